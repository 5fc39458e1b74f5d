"""The same seed gives the same traces on an idle machine and with both cores busy.

Nothing in a simulated run may depend on the wall clock or on how fast real threads
and children get the CPU: thread quiescence, subprocess settling and budgets are
decided by events and virtual time. The scenarios here mix executor threads,
aiosqlite's threads and real child processes (the fixed `hung-flow-no-timeout` variant
was once reported failed under load). The burners are bounded: two processes, killed
in `finally`, and each ends by itself after two minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.engine.strategies import make_strategy

ROOT = Path(__file__).resolve().parent.parent
GUARANTEES = {s.name: s for s in sh.load_file(ROOT / "tests" / "fixtures" / "engine" / "guarantees.py")}
BURN = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"

CASES = [
    (ROOT / "scenarios" / "hung_flow_no_timeout.py", "fixed", 12),
    (ROOT / "scenarios" / "db_lost_update.py", "buggy", 12),
    (ROOT / "scenarios" / "token_overwrite.py", "buggy", 12),
]


@contextmanager
def both_cores_busy() -> Iterator[None]:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(max(2, os.cpu_count() or 2))]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()


def traces(scenario: sh.Scenario, variant: str, runs: int, strategy_name: str) -> list[tuple[str, str]]:
    """(trace hash, outcome) of schedules 1..runs of seed 3."""
    strategy = make_strategy(strategy_name, seed=3)
    found = []
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, variant, environment)
        for index in range(1, runs + 1):
            strategy.begin_run(index)
            result = execution.run(strategy)
            strategy.end_run()
            found.append((result.trace_hash, result.failure.kind if result.failure else "pass"))
    return found


@pytest.mark.parametrize(("path", "variant", "runs"), CASES, ids=lambda v: getattr(v, "stem", str(v)))
def test_same_seed_same_traces_idle_and_loaded(path: Path, variant: str, runs: int) -> None:
    (scenario,) = sh.load_file(path)
    idle = {name: traces(scenario, variant, runs, name) for name in ("random", "pct")}
    with both_cores_busy():
        loaded = {name: traces(scenario, variant, runs, name) for name in ("random", "pct")}
    assert loaded == idle
    if variant == "fixed":
        assert all(outcome == "pass" for runs_ in idle.values() for _, outcome in runs_)


def test_threads_give_the_same_traces_idle_and_loaded() -> None:
    scenario = GUARANTEES["posts-ordered-by-a-signal-keep-their-order"]
    idle = traces(scenario, "default", 40, "random")
    with both_cores_busy():
        loaded = traces(scenario, "default", 40, "random")
    assert loaded == idle
    assert all(outcome == "pass" for _, outcome in idle)
