"""Shrinking: minimal deviations (checked against exhaustive enumeration), same kind, ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.outcome import RunResult
from simharness.explore.runner import ExploreOptions, explore_variant, replay
from simharness.scenario import Scenario, scenario_of
from simharness.engine.schedule import Schedule
from simharness.explore.shrink import shrink, size_of
from simharness.engine.strategies import DFSStrategy, GuidedStrategy

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "shrink"))
import token_race  # noqa: E402

RACES = {3: scenario_of(token_race.token_race_3), 10: scenario_of(token_race.token_race_10)}


def exhaustive_failures(scenario: Scenario) -> list[RunResult]:
    """Every failing run of the whole schedule space (unbounded dfs)."""
    failing: list[RunResult] = []
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, "default", environment)
        strategy = DFSStrategy()
        index = 1
        while strategy.begin_run(index):
            result = execution.run(strategy)
            strategy.end_run()
            if result.failed:
                failing.append(result)
            index += 1
    assert strategy.exhausted
    return failing


@pytest.mark.parametrize("k", [3, 10])
def test_explore_shrinks_to_the_exhaustive_minimum(k: int) -> None:
    scenario = RACES[k]
    minimum = min(r.schedule.deviations for r in exhaustive_failures(scenario))
    for seed in range(3):
        found = explore_variant(scenario, "default", ExploreOptions(strategy="pct", runs=2000, seed=seed)).failure
        assert found is not None and found.kind == "assertion"
        shrunk = Schedule.decode(found.schedule)
        assert shrunk.deviations == minimum
        assert shrunk.deviations <= Schedule.decode(found.original_schedule).deviations
        assert found.shrink_replays > 0
        again = replay(scenario, "default", found.schedule)
        assert again.failure is not None and again.failure.kind == "assertion"
        assert again.trace_hash == found.trace_hash


@pytest.mark.parametrize("k", [3, 10])
def test_every_failing_schedule_shrinks_to_the_minimum(k: int) -> None:
    scenario = RACES[k]
    failing = exhaustive_failures(scenario)
    minimum = min(r.schedule.deviations for r in failing)
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, "default", environment)
        results = {shrink(execution, start).result.schedule.indices for start in failing}
    # Whatever failure it starts from, the shrinker reaches one (the same) minimal schedule.
    assert len(results) == 1
    assert sum(1 for i in results.pop() if i) == minimum


def test_shrinking_keeps_the_failure_kind() -> None:
    scenario = scenario_of(token_race.kind_guard)
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, "default", environment)
        native = execution.run(_guided(()))
        assert native.failure is not None and native.failure.kind == "exception"
        failing = [r for r in exhaustive_failures(scenario) if r.failure and r.failure.kind == "assertion"]
        assert failing
        outcome = shrink(execution, max(failing, key=lambda r: size_of(r.schedule.indices)))
    assert outcome.result.failure is not None and outcome.result.failure.kind == "assertion"
    assert outcome.result.schedule.deviations >= 1


def test_shrinking_is_deterministic_and_respects_the_replay_cap() -> None:
    scenario = RACES[10]
    found = explore_variant(scenario, "default", ExploreOptions(strategy="pct", runs=2000, seed=0),
                            ).failure
    assert found is not None
    start = Schedule.decode(found.original_schedule).indices
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, "default", environment)
        first_run = execution.run(_guided(start))
        one = shrink(execution, first_run)
        two = shrink(execution, first_run)
        capped = shrink(execution, first_run, max_replays=3)
    assert one.result.schedule == two.result.schedule and one.replays == two.replays
    assert capped.replays == 3
    assert size_of(capped.result.schedule.indices) <= size_of(start)


def test_no_shrink_reports_the_schedule_as_found() -> None:
    found = explore_variant(RACES[3], "default", ExploreOptions(strategy="pct", runs=500, seed=0, shrink=False)).failure
    assert found is not None
    assert found.schedule == found.original_schedule and found.shrink_replays == 0


def _guided(indices: tuple[int, ...]) -> GuidedStrategy:
    strategy = GuidedStrategy(indices)
    strategy.begin_run(1)
    return strategy
