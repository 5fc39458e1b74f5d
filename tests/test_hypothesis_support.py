"""Hypothesis draws the interleaving (and the inputs) and shrinks them together."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simharness as sh
from simharness.integrations.hypothesis import DrawnSchedule, ScheduleFailure, replay_with, run_with, schedules
from simharness.explore.runner import replay
from simharness.scenario import scenario_of
from simharness.engine.schedule import Schedule

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "shrink"))
import token_race  # noqa: E402
from test_shrink import exhaustive_failures  # noqa: E402

# Deterministic and self-contained: a fixed generation seed, no example database.
DETERMINISTIC = settings(max_examples=400, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck))


def _falsify(test: object) -> ScheduleFailure:
    with pytest.raises(ScheduleFailure) as caught:
        test()  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize("race", [token_race.token_race_3, token_race.token_race_10])
def test_token_race_is_found_and_shrunk_to_the_minimal_deviations(race: object) -> None:
    # The minimum is what exhaustive enumeration gives.
    minimum = min(r.schedule.deviations for r in exhaustive_failures(scenario_of(race)))
    @DETERMINISTIC
    @given(drawn=schedules())
    def race_test(drawn: DrawnSchedule) -> None:
        run_with(race, None, drawn)  # type: ignore[arg-type]

    failure = _falsify(race_test)
    assert failure.failure.kind == "assertion"
    assert Schedule.decode(failure.schedule).deviations == minimum
    assert f"schedule: {failure.schedule}" in str(failure)
    assert f"token_race.py::{scenario_of(race).name} --variant default --schedule {failure.schedule}" in str(failure)
    replayed = replay(scenario_of(race), "default", failure.schedule)
    assert replayed.failure is not None and replayed.trace_hash == failure.result.trace_hash


def test_actor_mode_finds_a_long_wait_from_one_draw() -> None:
    calls = []

    @DETERMINISTIC
    @given(drawn=schedules(per="actor"))
    def race_test(drawn: DrawnSchedule) -> None:
        calls.append(1)
        run_with(token_race.token_race_10, None, drawn)

    failure = _falsify(race_test)
    assert failure.failure.kind == "assertion"
    # A long wait: at least the exhaustive minimum of departures, drawn as one actor's delay.
    minimum = min(r.schedule.deviations for r in exhaustive_failures(scenario_of(token_race.token_race_10)))
    assert Schedule.decode(failure.schedule).deviations >= minimum


class RacyRegistry:
    """Checks a slug is free, awaits the insert, then claims it: two flows can both pass the check."""

    def __init__(self) -> None:
        self.claimed: list[str] = []

    async def create(self, slug: str) -> None:
        if slug not in self.claimed:
            await sh.checkpoint("insert row")
            self.claimed.append(slug)


class AtomicRegistry(RacyRegistry):
    """Claims before awaiting the insert: the check and the claim are one step."""

    async def create(self, slug: str) -> None:
        if slug not in self.claimed:
            self.claimed.append(slug)
            await sh.checkpoint("insert row")


@sh.scenario(name="hypothesis-slugs", variants={"racy": RacyRegistry, "atomic": AtomicRegistry})
async def slug_flows(registry_cls: type[RacyRegistry], flows: list[str]) -> None:
    """Flow i validates its form with i slow calls, then creates its slug."""
    registry = registry_cls()

    async def flow(index: int, slug: str) -> None:
        for _ in range(index):
            await sh.checkpoint("validate form")
        await registry.create(slug)

    await asyncio.gather(*(flow(i, slug) for i, slug in enumerate(flows)))
    assert len(registry.claimed) == len(set(registry.claimed)), f"slug claimed twice: {registry.claimed}"


SLUGS = st.lists(st.sampled_from(["alpha", "beta", "gamma"]), max_size=6)


def test_inputs_and_interleaving_shrink_together() -> None:
    seen: list[tuple[list[str], str | None]] = []

    @DETERMINISTIC
    @given(flows=SLUGS, drawn=schedules())
    def flows_test(flows: list[str], drawn: DrawnSchedule) -> None:
        try:
            run_with(slug_flows, "racy", drawn, flows)
        finally:
            seen.append((flows, drawn.schedule))

    failure = _falsify(flows_test)
    flows = next(f for f, s in reversed(seen) if s == failure.schedule)
    # Hypothesis's minimal input: two flows with the first slug; one departure is enough.
    assert flows == ["alpha", "alpha"]
    assert Schedule.decode(failure.schedule).deviations == 1
    assert "slug claimed twice: ['alpha', 'alpha']" in str(failure)
    again = replay_with(slug_flows, "racy", failure.schedule, flows)
    assert again.failure is not None and again.trace_hash == failure.result.trace_hash


def test_the_fixed_variant_passes_every_drawn_interleaving() -> None:
    @settings(DETERMINISTIC, max_examples=100)
    @given(flows=SLUGS, drawn=schedules())
    def flows_test(flows: list[str], drawn: DrawnSchedule) -> None:
        result = run_with(slug_flows, "atomic", drawn, flows)
        assert drawn.schedule == result.schedule.encode()

    flows_test()


def test_a_drawn_schedule_runs_once() -> None:
    @settings(DETERMINISTIC, max_examples=5)
    @given(drawn=schedules())
    def twice(drawn: DrawnSchedule) -> None:
        run_with(slug_flows, "atomic", drawn, ["alpha"])
        with pytest.raises(sh.ConfigError):
            run_with(slug_flows, "atomic", drawn, ["alpha"])

    twice()
