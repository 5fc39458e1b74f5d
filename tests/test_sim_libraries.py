"""The libraries users run, unmodified, in simulation: aiohttp (client and aiohttp.web),
httpx, websockets and redis-py's asyncio client (versions pinned in pyproject's `libs`
extra). Each fixture in tests/fixtures/libs/ plants a race in application code that
uses the library; exploration finds it, its fix passes every explored schedule, and the
failing schedule replays to the same trace in a new process with another hash seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import make_strategy
from simharness.explore.runner import ExploreOptions

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "libs"

#: (fixture file, scenario, racy variant, fixed variant, what the failure says)
LIBRARIES = [
    ("aiohttp_wallet.py", "wallet-deposits", "racy", "locked", "a deposit was lost"),
    ("httpx_signup.py", "duplicate-signup", "racy", "fixed", "user created 2 times"),
    ("websockets_counter.py", "lost-increment", "racy", "fixed", "an increment was lost"),
    ("redis_stock.py", "lost-sale", "racy", "fixed", "a sale was lost"),
]
IDS = [entry[0].split("_")[0] for entry in LIBRARIES]

_REPLAYER = """
import json, sys
import simharness as sh
scenario = next(s for s in sh.load_file(sys.argv[1]) if s.name == sys.argv[2])
result = sh.replay(scenario, sys.argv[3], sys.argv[4])
print(json.dumps([result.trace_hash, result.failure.kind if result.failure else "pass"]))
"""


def _scenario(file: str, name: str) -> sh.Scenario:
    return next(s for s in sh.load_file(FIXTURES / file) if s.name == name)


def _replay_fresh(file: str, name: str, variant: str, schedule: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "7"}
    done = subprocess.run([sys.executable, "-c", _REPLAYER, str(FIXTURES / file), name, variant, schedule],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(("file", "name", "racy", "fixed", "says"), LIBRARIES, ids=IDS)
def test_planted_race_is_found_and_replays_exactly(file: str, name: str, racy: str, fixed: str,
                                                   says: str) -> None:
    scenario = _scenario(file, name)
    # The default order (the stock loop's) passes: only a non-default choice shows the race.
    default = sh.run_strategy(scenario, racy, make_strategy("fifo", seed=0, depth=3, bound=None))
    assert default.failure is None, default.failure
    [found] = sh.explore(scenario, [racy], ExploreOptions(strategy="pct", runs=300), store=None)
    assert found.failed and found.failure is not None, f"{name}: race not found in {found.runs} schedules"
    assert found.failure.kind == "assertion" and says in found.failure.message, found.failure
    assert _replay_fresh(file, name, racy, found.failure.schedule) == [found.failure.trace_hash, "assertion"]


@pytest.mark.parametrize(("file", "name", "racy", "fixed", "says"), LIBRARIES, ids=IDS)
def test_fix_passes_every_explored_schedule(file: str, name: str, racy: str, fixed: str, says: str) -> None:
    scenario = _scenario(file, name)
    for strategy in ("pct", "random"):
        [result] = sh.explore(scenario, [fixed], ExploreOptions(strategy=strategy, runs=50), store=None)
        assert not result.failed, result.failure


@pytest.mark.slow
@pytest.mark.parametrize(("file", "name", "racy", "fixed", "says"), LIBRARIES, ids=IDS)
def test_fix_survives_2000_schedules(file: str, name: str, racy: str, fixed: str, says: str) -> None:
    scenario = _scenario(file, name)
    for strategy in ("pct", "random"):
        [result] = sh.explore(scenario, [fixed], ExploreOptions(strategy=strategy, runs=1000, seed=11),
                              store=None)
        assert not result.failed and result.runs == 1000, result.failure


def test_aiohttp_serves_a_file_through_loop_sendfile() -> None:
    # web.FileResponse calls loop.sendfile: simulation runs asyncio's read-and-write
    # fallback (executor reads, flow-controlled writes), never a refusal.
    scenario = _scenario("aiohttp_static.py", "static-file")
    for strategy in ("pct", "random"):
        [result] = sh.explore(scenario, ["default"], ExploreOptions(strategy=strategy, runs=20), store=None)
        assert not result.failed, result.failure
