"""A refused API is its own outcome: exit 2 with the API named, never a found bug, never stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import FIXTURES, run_cli

UNSUPPORTED = str(FIXTURES / "unsupported.py")


@pytest.mark.parametrize(("name", "api"), [("udp-socket", "socket.socket(SOCK_DGRAM)"),
                                           ("refusal-caught-by-the-code", "loop.create_datagram_endpoint()")])
def test_explore_of_a_refused_api_exits_2_naming_it(name: str, api: str) -> None:
    done = run_cli("explore", f"{UNSUPPORTED}::{name}", "--runs", "5")
    assert done.code == 2, done
    assert api in done.err and "real backend" in done.err
    assert "replay:" not in done.out and "FAILED" not in done.out
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1


def test_refused_api_is_not_stored(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from cli_helpers import ROOT
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_STORE": str(tmp_path / "store")}
    done = subprocess.run([sys.executable, "-m", "simharness", "explore", f"{UNSUPPORTED}::udp-socket",
                           "--runs", "3"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()] if (tmp_path / "store").exists() else []
    assert not any("udp-socket" in p.read_text(errors="replace") for p in stored)


def test_a_connection_to_a_real_server_is_unsupported_not_refused() -> None:
    """A real server the test started (here a listening socket of this process) is outside
    the simulated network: connecting to it is refused as unsupported (no verdict), never
    a ConnectionRefusedError that the stock loop would not raise; a port nobody listens
    on is still refused as on the stock loop."""
    import asyncio
    import socket

    import simharness  # noqa: F401  (the simulated world)
    from simharness.engine.loop import ControlledLoop
    from simharness.errors import UnsupportedInSimulation

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        async def connect(to_port: int) -> None:
            await asyncio.open_connection("127.0.0.1", to_port)

        stock = asyncio.new_event_loop()
        try:
            stock.run_until_complete(connect(port))  # the stock loop reaches the real server
        finally:
            stock.close()
        loop = ControlledLoop(choose=lambda options: 0)
        try:
            with pytest.raises(UnsupportedInSimulation, match="real server"):
                loop.run_until_complete(connect(port))
            assert loop.unsupported is not None
        finally:
            loop.drain()
            loop.close()
    with socket.socket() as probe:  # a port with no listener anywhere
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    loop = ControlledLoop(choose=lambda options: 0)
    try:
        with pytest.raises(ConnectionRefusedError):
            loop.run_until_complete(connect(free_port))
    finally:
        loop.drain()
        loop.close()


@pytest.mark.parametrize(("name", "where"), [("thread-waits-on-a-real-socket", "socket.py"),
                                           ("server-thread-polls-a-real-socket", "selectors.py")])
def test_a_thread_blocked_on_a_real_socket_is_unsupported_not_a_timeout(name: str, where: str) -> None:
    """A thread of the run waiting in a system call on a real socket, or polling one with
    a selector (a real server or client beside the simulated network, as in CPython's
    test_events) cannot finish in
    simulation: when outside work does not settle, that is named as unsupported (exit 2,
    no verdict), never reported as a found timeout."""
    done = run_cli("explore", f"{FIXTURES / 'real_socket_thread.py'}::{name}", "--runs", "3", "--no-store")
    assert done.code == 2, done
    assert "a real socket in another thread" in done.err and where in done.err
    assert "FAILED" not in done.out and "timeout" not in done.out
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1
