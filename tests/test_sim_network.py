"""The in-memory network of simulated runs (simharness/simnet.py, simtransport.py).

Scenario files live in tests/fixtures/network/. Findings and passing runs are
replayed from their schedule in fresh interpreter processes (other hash seeds, and
other Python versions where the scenario's asyncio behaviour is version-neutral),
which must give the same trace hash.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import make_strategy

from replay_helpers import python_for

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "network"


def _other_pythons() -> list[str]:
    """The venv pythons of 3.12 and 3.13 other than this one (replay_helpers.python_for); a
    version without one is left out of the cross-version replays, with a warning saying why."""
    found = []
    for version in ((3, 12), (3, 13)):
        python, why_not = python_for(version)
        if python is None:
            warnings.warn(f"cross-version replays leave out Python {version[0]}.{version[1]}: {why_not}")
        elif version != sys.version_info[:2]:
            found.append(python)
    return found


OTHER_PYTHONS = _other_pythons()

_REPLAYER = """
import json, sys
import simharness as sh
out = []
for path, name, variant, schedule in json.loads(sys.argv[1]):
    scenario = next(s for s in sh.load_file(path) if s.name == name)
    result = sh.replay(scenario, variant, schedule)
    out.append([result.trace_hash, result.failure.kind if result.failure else "pass"])
print(json.dumps(out))
"""

sys.path.insert(0, str(FIXTURES))
import http_app
import protocols


def scenario(file: str, name: str) -> sh.Scenario:
    return next(s for s in sh.load_file(FIXTURES / file) if s.name == name)


def fifo(s: sh.Scenario, variant: str = "default") -> sh.RunResult:
    return sh.run_strategy(s, variant, make_strategy("fifo", seed=0, depth=3, bound=None))


def replay_fresh(items: list[tuple[str, str, str, str]], python: str = sys.executable,
                 hash_seed: str = "1") -> list[list[str]]:
    """(trace hash, outcome) of each (file, scenario, variant, schedule) in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([python, "-c", _REPLAYER, json.dumps([[str(FIXTURES / f), *rest] for f, *rest in items])],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ----- message order between connections -------------------------------------------------
def test_two_connection_echo_order_is_explored_and_replays() -> None:
    echo = scenario("echo.py", "two-connection-echo")
    orders: list[tuple[str, ...]] = echo.function.__globals__["ORDERS"]
    orders.clear()
    assert fifo(echo, "observe").failure is None
    assert orders == [("A", "B")]  # FIFO gives the stock order

    orders.clear()
    explored = sh.explore_variant(echo, "observe", sh.ExploreOptions(strategy="dfs", runs=500, bound=2))
    assert not explored.failed and explored.exhausted
    assert sorted(set(orders)) == [("A", "B"), ("B", "A")]

    found = sh.explore_variant(echo, "stock-order", sh.ExploreOptions(strategy="dfs", runs=500, bound=1))
    assert found.failure is not None and found.failure.kind == "assertion"
    assert "['B', 'A']" in found.failure.message
    item = ("echo.py", echo.name, "stock-order", found.failure.schedule)
    expected = [[found.failure.trace_hash, "assertion"]]
    assert replay_fresh([item], hash_seed="1") == expected
    assert replay_fresh([item], hash_seed="4242") == expected
    for python in OTHER_PYTHONS:  # this scenario's asyncio steps are the same on 3.11-3.13
        assert replay_fresh([item], python=python) == expected


def test_message_order_race_found_and_fix_holds_exhaustively() -> None:
    race = scenario("races.py", "stale-config-write")
    assert fifo(race, "buggy").failure is None  # the stock order hides the bug
    found = sh.explore_variant(race, "buggy", sh.ExploreOptions(strategy="dfs", runs=500, bound=1))
    assert found.failure is not None and found.failure.kind == "assertion"
    assert "the earlier write won: value is 1" in found.failure.message
    item = ("races.py", race.name, "buggy", found.failure.schedule)
    assert replay_fresh([item], hash_seed="99") == [[found.failure.trace_hash, "assertion"]]
    for python in OTHER_PYTHONS:
        assert replay_fresh([item], python=python) == [[found.failure.trace_hash, "assertion"]]

    fixed = sh.explore_variant(race, "fixed", sh.ExploreOptions(strategy="dfs", runs=5000))
    assert not fixed.failed and fixed.exhausted and fixed.runs > 10


# ----- unmodified stream code ----------------------------------------------------------------
def test_http_over_streams_same_results_in_simulation_and_on_real_sockets() -> None:
    real = asyncio.run(http_app.exercise("127.0.0.1"))
    exchange = scenario("http_scenarios.py", "http-exchange")
    results: list[list[object]] = exchange.function.__globals__["RESULTS"]
    results.clear()
    stock = fifo(exchange)
    assert stock.failure is None
    assert results == [real]
    assert real[0] == (200, b"hello, world\n" * 3)
    assert real[2:4] == [(201, b"stored /notes"), 100_000]

    explored = sh.explore_variant(exchange, "default", sh.ExploreOptions(strategy="random", runs=25, seed=5))
    assert not explored.failed and all(r == real for r in results)
    other = sh.run_strategy(exchange, "default", make_strategy("random", seed=11, depth=3, bound=None))
    assert other.failure is None and other.schedule.encode() != stock.schedule.encode()
    items = [("http_scenarios.py", exchange.name, "default", r.schedule.encode()) for r in (stock, other)]
    assert replay_fresh(items, hash_seed="3") == [[stock.trace_hash, "pass"], [other.trace_hash, "pass"]]


@pytest.mark.parametrize("case", sorted(protocols.STORIES))
def test_protocol_callbacks_match_real_loopback(case: str, tmp_path: Path) -> None:
    real = asyncio.run(protocols.story(case))
    file = tmp_path / "story.py"
    file.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(FIXTURES)!r})\n"
        "import simharness as sh, protocols\n"
        "LOGS = []\n"
        f"@sh.scenario\nasync def story():\n    LOGS.append(await protocols.story({case!r}))\n")
    s = sh.load_file(file)[0]
    assert fifo(s).failure is None
    assert s.function.__globals__["LOGS"] == [real]
    assert real["client"][0] == ("made", None) and real["server"][0] == ("made", None)


# ----- semantics ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, variant", [("refused", "default"), ("server-close", "default"),
                                           ("delayed-serving", "default"), ("bulk-transfer", "default"),
                                           ("cancelled-connect", "early"), ("cancelled-connect", "late")])
def test_semantics_in_simulation_and_real(name: str, variant: str) -> None:
    s = scenario("semantics.py", name)
    asyncio.run(s.function(*([] if variant == "default" else [s.variants[variant]])))  # real sockets
    result = fifo(s, variant)
    assert result.failure is None, result.failure
    explored = sh.explore_variant(s, variant, sh.ExploreOptions(strategy="random", runs=15, seed=2))
    assert not explored.failed, explored.failure


def test_cancelled_connect_is_explored_on_both_sides_of_the_handshake() -> None:
    s = scenario("semantics.py", "cancelled-connect")
    accepted: list[int] = s.function.__globals__["ACCEPTED"]
    accepted.clear()
    explored = sh.explore_variant(s, "late", sh.ExploreOptions(strategy="dfs", runs=3000))
    assert not explored.failed and explored.exhausted, explored.failure
    # 1: cancelled before the handshake event; 2: the server had accepted it, then saw EOF
    assert sorted(set(accepted)) == [1, 2]


def test_refused_connection_replays_in_fresh_process() -> None:
    s = scenario("semantics.py", "refused")
    result = fifo(s)
    assert result.failure is None
    assert replay_fresh([("semantics.py", s.name, "default", result.schedule.encode())]) == \
        [[result.trace_hash, "pass"]]


def test_ports_are_deterministic_and_binding_twice_fails() -> None:
    s = scenario("semantics.py", "sim-ports")
    first, second = fifo(s), fifo(s)
    assert first.failure is None, first.failure
    assert first.trace_hash == second.trace_hash


def test_only_loopback_exists() -> None:
    result = fifo(scenario("semantics.py", "sim-no-outside-world"))
    assert result.failure is None, result.failure


@pytest.mark.parametrize("variant", ["ssl", "sock", "reuse_port"])
def test_unsupported_options_are_named(variant: str) -> None:
    # A refused API is no finding: the run has no verdict, and says which API and what to do.
    with pytest.raises(sh.UnsupportedInSimulation) as refused:
        fifo(scenario("semantics.py", "sim-unsupported"), variant)
    assert refused.value.api == f"loop.create_server({variant}=...)"
    assert "real backend" in str(refused.value)


def test_silent_peer_is_a_deadlock_naming_the_connection(tmp_path: Path) -> None:
    file = tmp_path / "silent.py"
    file.write_text(
        "import asyncio\nimport simharness as sh\n"
        "async def mute(reader, writer):\n"
        "    writer.transport.pause_reading()\n"
        "    await asyncio.Event().wait()\n"
        "@sh.scenario\nasync def silent():\n"
        "    server = await asyncio.start_server(mute, '127.0.0.1', 0)\n"
        "    reader, writer = await asyncio.open_connection('127.0.0.1', 40000)\n"
        "    writer.write(b'ping')\n"
        "    await reader.read(1)\n")
    result = fifo(sh.load_file(file)[0])
    assert result.failure is not None and result.failure.kind == "deadlock"
    assert "conn-1 127.0.0.1:50000 -> 127.0.0.1:40000: 4 bytes (reading paused)" in result.failure.message


def test_finished_runs_leave_no_network_behind() -> None:
    from simharness.world import network as simnet
    echo = scenario("echo.py", "two-connection-echo")
    sh.explore_variant(echo, "observe", sh.ExploreOptions(strategy="random", runs=20))
    assert len(simnet._networks) == 0  # each run's loop (and its tasks) can be collected
