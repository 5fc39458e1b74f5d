"""Sockets the scenario makes itself, on the simulated network (simharness/world/sockets.py,
socket_api.py): the same code gives the same results on real 127.0.0.1 sockets with the
stock loop and in simulation, where every connection is an explorer event."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import simharness as sh
from simharness.engine.strategies import make_strategy
from simharness.scenario import collect_declared, scenario_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "network"
sys.path.insert(0, str(FIXTURES))
import contexts  # noqa: E402
import raw_sockets  # noqa: E402


def _in_simulation(body: Callable[[], Awaitable[Any]], strategy: str = "fifo", seed: int = 0) -> Any:
    """Run `body` as a one-off scenario under `strategy`; what it returned."""
    box: list[Any] = []

    async def scenario() -> None:
        box.append(await body())

    built = scenario_of(sh.scenario(name=f"sockets-{body.__name__}")(scenario))
    collect_declared()  # declared here, not in a scenario file: keep it out of the next load
    result = sh.run_strategy(built, "default", make_strategy(strategy, seed=seed, depth=3, bound=None))
    assert result.failure is None, result.failure
    return box[0]


@pytest.mark.parametrize("body", [raw_sockets.exchange_raw, raw_sockets.exchange_handed_sockets,
                                  raw_sockets.exchange_refused, raw_sockets.exchange_accepted_transport,
                                  contexts.exchange_contexts, raw_sockets.exchange_sendfile],
                         ids=lambda f: f.__name__)
def test_same_results_as_real_sockets(body: Callable[[], Awaitable[Any]]) -> None:
    real = asyncio.run(body())  # type: ignore[arg-type]
    assert _in_simulation(body) == real
    for seed in range(5):  # other interleavings of the same exchange: the same results
        assert _in_simulation(body, "random", seed) == real


def test_server_sockets_are_transport_sockets_as_on_the_stock_loop() -> None:
    # Fidelity defect D7: Server.sockets and get_extra_info("socket") hold TransportSocket.
    result = _in_simulation(raw_sockets.exchange_handed_sockets)
    assert result["server_item"] == result["extra"] == "TransportSocket"
    assert result["item_family"] == "AF_INET" and result["extra_peer_port"]


def test_gate_is_only_on_the_loop_thread_and_is_removed_after() -> None:
    before = socket.socket
    s = next(s for s in sh.load_file(FIXTURES / "raw_sockets.py") if s.name == "sockets-in-a-thread-stay-real")
    result = sh.run_strategy(s, "default", make_strategy("fifo", seed=0, depth=3, bound=None))
    assert result.failure is None, result.failure
    assert socket.socket is before
    with socket.socket() as real:
        assert real.fileno() >= 0


def test_raw_exchange_replays_exactly() -> None:
    s = next(s for s in sh.load_file(FIXTURES / "raw_sockets.py") if s.name == "raw-exchange")
    found = sh.run_strategy(s, "default", make_strategy("random", seed=3, depth=3, bound=None))
    again = sh.replay(s, "default", found.schedule)
    assert again.trace_hash == found.trace_hash and again.failure is None


def test_server_socket_items_pass_cpythons_trsock_checks() -> None:
    s = next(s for s in sh.load_file(FIXTURES / "raw_sockets.py") if s.name == "server-socket-items")
    result = sh.run_strategy(s, "default", make_strategy("fifo", seed=0, depth=3, bound=None))
    assert result.failure is None, result.failure


def test_declared_host_names_resolve_to_their_loopback_addresses() -> None:
    s = next(s for s in sh.load_file(FIXTURES / "named_hosts.py") if s.name == "named-hosts")
    for seed in range(5):
        result = sh.run_strategy(s, "default", make_strategy("random", seed=seed, depth=3, bound=None))
        assert result.failure is None, result.failure


@pytest.mark.parametrize("hosts", [{"db": "10.0.0.2"}, {"db": ()}, {"bad name!": "127.0.0.1"}, ["db"]])
def test_bad_hosts_options_are_refused(hosts: object) -> None:
    async def body() -> None:
        pass

    with pytest.raises(sh.ScenarioLoadError, match="hosts"):
        sh.scenario(hosts=hosts)(body)
