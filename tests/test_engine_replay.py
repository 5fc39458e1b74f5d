"""Exact replay: same schedule, same trace hash, in a new process, any hash seed, 3.11-3.13."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import simharness as sh
from simharness import ExploreOptions, Schedule, ScheduleDivergence, explore_variant, replay
from simharness.engine.schedule import Decision

from replay_helpers import python_for

ROOT = Path(__file__).resolve().parent.parent
ORDERS = Path(__file__).parent / "fixtures" / "engine" / "sets_and_groups.py"
def _interpreters() -> list[object]:
    """This interpreter and the venv pythons of 3.11, 3.12 and 3.13 (replay_helpers.python_for)."""
    found = []
    for version in ((3, 11), (3, 12), (3, 13)):
        python, why_not = python_for(version)
        found.append(python if python else pytest.param(None, marks=pytest.mark.skip(reason=why_not),
                                                         id="%d.%d" % version))
    return found


PYTHONS = _interpreters()

SCENARIO_SOURCE = '''
import asyncio
import simharness as sh

@sh.scenario(variants={"buggy": 1}, expect={"buggy": "fail"})
async def sets_and_groups(_):
    log = []
    async def w(n):
        await sh.checkpoint()
        await asyncio.sleep(n % 2)
        log.append(n)
    tasks = [asyncio.create_task(w(n)) for n in range(4)]
    done, pending = await asyncio.wait(tasks, timeout=0.5)
    names = [t.get_name() for t in done]          # iterates a set of tasks
    for t in pending:                               # and another one
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    lock = asyncio.Lock()
    async def held(n):
        async with lock:
            await sh.checkpoint()
            log.append(("held", n))
    async with asyncio.TaskGroup() as group:
        for n in range(3):
            group.create_task(held(n))
    try:
        async with asyncio.timeout(1):
            await asyncio.sleep(1)
    except TimeoutError:
        log.append("timeout")
    assert log[:2] == [0, 2], (names, log)
'''


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "sets_and_groups.py"
    path.write_text(SCENARIO_SOURCE)
    return path


@pytest.fixture(scope="module")
def found(scenario_file: Path) -> sh.FoundFailure:
    scenario = sh.load_file(scenario_file)[0]
    exploration = explore_variant(scenario, "buggy", ExploreOptions(strategy="random", runs=200, seed=3))
    assert exploration.failure is not None
    return exploration.failure


def replay_in_child(python: str, hash_seed: str, path: Path, schedule: str) -> str:
    code = ("import sys, simharness as sh; s = sh.load_file(sys.argv[1])[0];"
            "r = sh.replay(s, 'buggy', sys.argv[2]); print(r.trace_hash, r.failure.kind)")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([python, "-c", code, str(path), schedule], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("hash_seed", ["0", "1", "4242"])
def test_same_schedule_same_hash_in_new_processes(found: sh.FoundFailure, scenario_file: Path,
                                                  python: str, hash_seed: str) -> None:
    assert replay_in_child(python, hash_seed, scenario_file, found.schedule) == f"{found.trace_hash} assertion"


def test_all_three_versions_are_covered() -> None:
    missing = [why_not for version in ((3, 11), (3, 12), (3, 13)) for python, why_not in [python_for(version)]
               if python is None]
    if missing:
        pytest.skip("; ".join(missing))
    versions = {subprocess.run([p, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                               text=True).stdout.strip() for p in PYTHONS if isinstance(p, str)}
    assert versions == {"(3, 11)", "(3, 12)", "(3, 13)"}, versions


def test_replay_stops_at_a_decision_that_does_not_match(found: sh.FoundFailure, scenario_file: Path) -> None:
    scenario = sh.load_file(scenario_file)[0]
    schedule = Schedule.decode(found.schedule)
    first = schedule.decisions[0]
    tampered = Schedule(schedule.scope, schedule.preemptive,
                        (Decision(first.index, first.options, (first.fingerprint + 1) % 256),) + schedule.decisions[1:])
    with pytest.raises(ScheduleDivergence) as raised:
        replay(scenario, "buggy", tampered.encode())
    assert raised.value.step == 1
    longer = dataclasses.replace(schedule, tail=schedule.tail + 1)
    with pytest.raises(ScheduleDivergence, match="ended after"):
        replay(scenario, "buggy", longer)
    if schedule.tail:  # the default-only tail is checked as a whole when the run ends
        other_tail = dataclasses.replace(schedule, tail_digest=(schedule.tail_digest + 1) % 65536)
        with pytest.raises(ScheduleDivergence, match="within its last"):
            replay(scenario, "buggy", other_tail)


def test_schedule_of_another_scenario_is_refused(found: sh.FoundFailure) -> None:
    other = sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "timing.py")[0]
    with pytest.raises(sh.ScheduleDecodeError, match="another scenario"):
        replay(other, "default", found.schedule)


def test_runs_are_isolated_from_each_other(scenario_file: Path, found: sh.FoundFailure) -> None:
    """A leaking scenario run first must not change the next run's trace."""
    leaky = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "detection.py")}
    for name in ("leaks-a-task", "unretrieved-task-exception", "busy-loop"):
        explore_variant(leaky[name], "default", ExploreOptions(strategy="fifo"))
    scenario = sh.load_file(scenario_file)[0]
    assert replay(scenario, "buggy", found.schedule).trace_hash == found.trace_hash
