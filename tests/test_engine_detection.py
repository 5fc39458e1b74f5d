"""Each failure kind fires on a scenario built for it, and never on correct code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import FifoStrategy
from simharness import ExploreOptions, RunSettings, explore_variant, replay

FIXTURE = Path(__file__).parent / "fixtures" / "engine" / "detection.py"
SCENARIOS = {s.name: s for s in sh.load_file(FIXTURE)}


def first_failure(name: str, strategy: str = "fifo", runs: int = 1) -> sh.FoundFailure:
    exploration = explore_variant(SCENARIOS[name], "default", ExploreOptions(strategy=strategy, runs=runs))
    assert exploration.failure is not None, f"{name} did not fail"
    return exploration.failure


@pytest.mark.parametrize(("name", "kind", "words"), [
    ("fails-assertion", "assertion", "arithmetic is broken"),
    ("raises-exception", "exception", "ValueError: bad value"),
    ("unretrieved-task-exception", "task-exception", "nobody looks at me"),
    ("lock-deadlock", "deadlock", "main awaits Lock.acquire() at detection.py"),
    ("event-deadlock", "deadlock", "Event.wait()"),
    ("busy-loop", "timeout", "step budget"),
    ("sleeps-past-budget", "timeout", "virtual-time budget of 1000 s"),
    ("leaks-a-task", "leak", "still pending when the scenario returned"),
])
def test_each_kind_fires_on_its_scenario(name: str, kind: str, words: str) -> None:
    failure = first_failure(name)
    assert failure.kind == kind
    assert words in failure.message


def test_invariant_checked_after_every_step() -> None:
    failure = first_failure("violated-invariant", strategy="dfs", runs=50)
    assert failure.kind == "invariant"
    assert "'at most one holder'" in failure.message


def test_event_deadlock_lists_every_blocked_task() -> None:
    message = first_failure("event-deadlock").message
    assert "Task-2 awaits Event.wait()" in message and "Task-3 awaits Event.wait()" in message


def test_blocked_loop_is_reported_not_hung() -> None:
    # Run in a child process: if detection failed, the timeout would end the test.
    code = ("import simharness as sh;"
            f"s={{x.name: x for x in sh.load_file({str(FIXTURE)!r})}}['thread-lock-blocks-loop'];"
            "e=sh.explore_variant(s,'default',sh.ExploreOptions(strategy='fifo',runs=1));"
            "print(e.failure.kind); print(e.failure.message)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    kind, message = done.stdout.splitlines()[:2]
    assert kind == "blocked-loop"
    assert "event loop blocked by a synchronous lock" in message
    assert "detection.py" in message  # names the line that blocked


def test_the_scenarios_own_blocked_loop_threshold_applies() -> None:
    # The watchdog is shared by an exploration's runs; each run must watch with its
    # scenario's threshold (0.5 s here), not the default 10 s (under which the 3 s
    # sleep would end and the run pass).
    failure = first_failure("sleep-blocks-loop-past-its-threshold")
    assert failure.kind == "blocked-loop" and "for over 0.5 s" in failure.message


@pytest.mark.parametrize("name", [
    "pingpong-alternation", "queue-pipeline", "semaphore-workers", "taskgroup-cancellation",
    "first-completed", "condition-handoff", "timeout-handled",
])
def test_correct_code_never_fails_in_faithful_mode(name: str) -> None:
    scenario = SCENARIOS[name]
    exhaustive = explore_variant(scenario, "default", ExploreOptions(strategy="dfs", runs=3000))
    assert exhaustive.failure is None
    assert exhaustive.exhausted, f"{name}: space larger than 3000 schedules"
    for strategy in ("pct", "random"):
        sampled = explore_variant(scenario, "default", ExploreOptions(strategy=strategy, runs=150, seed=7))
        assert sampled.failure is None, sampled.failure


def test_pingpong_fails_only_when_preemption_is_asked_for() -> None:
    scenario = SCENARIOS["pingpong-alternation"]
    faithful = explore_variant(scenario, "default", ExploreOptions(strategy="dfs", runs=100))
    assert faithful.exhausted and faithful.runs == 1 and faithful.failure is None
    preemptive = explore_variant(scenario, "default", ExploreOptions(strategy="dfs", runs=100),
                                 RunSettings(preemptive=True))
    assert preemptive.failure is not None and preemptive.failure.preemptive
    assert "preemptive mode" in preemptive.failure.message
    assert preemptive.failure.schedule.startswith(f"s1p{sys.version_info[1]}-")
    rerun = replay(scenario, "default", preemptive.failure.schedule)
    assert rerun.failure is not None and rerun.trace_hash == preemptive.failure.trace_hash


def test_determinism_check_names_the_first_differing_step() -> None:
    steady = sh.check_determinism(SCENARIOS["semaphore-workers"], "default")
    assert steady.deterministic and steady.first_difference is None
    verdicts = [sh.check_determinism(SCENARIOS["uses-global-random"], "default") for _ in range(6)]
    unsteady = [v for v in verdicts if not v.deterministic]
    assert unsteady, "six checks of a shuffled order never differed"
    assert unsteady[0].first_difference is not None and "step" in unsteady[0].detail


def test_cleanup_that_needs_virtual_time_still_ends(tmp_path: Path) -> None:
    """After a run, a cancelled task that sleeps in its `finally` is driven to its end:
    the drain advances the virtual clock instead of spinning until its round limit."""
    source = tmp_path / "sleepy.py"
    source.write_text(
        "import asyncio\nimport simharness as sh\n\nLOG = []\n\n"
        "@sh.scenario\nasync def sleepy_cleanup():\n"
        "    async def worker():\n"
        "        try:\n            await asyncio.sleep(100)\n"
        "        finally:\n            await asyncio.sleep(5)\n            LOG.append('cleaned')\n"
        "    asyncio.get_running_loop().create_task(worker())\n"
        "    await asyncio.sleep(1)\n")
    scenario = sh.load_file(source)[0]
    result = sh.run_strategy(scenario, "default", FifoStrategy())
    assert result.failure is not None and result.failure.kind == "leak"
    log = sys.modules[scenario.function.__module__].LOG
    assert log == ["cleaned"]
