"""The timings stress runs a variant under: the checkpoint durations of its buggy variant's failures.

A fixed variant must pass not only at random but under the very timing that broke its
buggy variant. Each failure comes from the same exploration the simulated half of the
stress run does (same strategies, budget and seed, so the same failure), plus any
failing schedule already known (the failure store); each is restated as checkpoint
durations (`explore/timing.py`). Failures that need a choice with no stock equivalent,
or no slow checkpoint at all (the stock order fails: the ordinary real runs already run
that timing), give no timing, and the reason says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simharness.engine.schedule import Schedule
from simharness.errors import SimharnessError
from simharness.explore.timing import stock_timing
from simharness.real.simjob import explore_for_stress
from simharness.scenario import Scenario


_STOCK_ORDER = "the stock order fails already (no checkpoint needs to be slow): the real runs at random cover it"


@dataclass(frozen=True)
class FoundTiming:
    """One failure's durations, ready for `run_copies(delays=...)`."""

    schedule: str
    delays: dict[str, float]
    statement: str


def found_timings(scenario: Scenario, buggy: str, runs: int, known: tuple[str, ...] = (),
                  progress: Callable[[int, int], None] = lambda done, planned: None,
                  ) -> tuple[tuple[FoundTiming, ...], str]:
    """The timings of `buggy`'s failures (explored within `runs` schedules, 0: not explored, and
    `known`); why there is none."""
    found = explore_for_stress(scenario, buggy, runs, 0, progress).get("found") if runs else None
    schedules = ([found["schedule"]] if found else []) + [s for s in known if not found or s != found["schedule"]]
    if not schedules:
        return (), f"simulation found no failure of {buggy}"
    return timings_of(scenario, buggy, tuple(schedules))


def timings_of(scenario: Scenario, buggy: str, schedules: tuple[str, ...]) -> tuple[tuple[FoundTiming, ...], str]:
    """The timings of these failing schedules of `buggy`; why some (or all) give none."""
    timings: list[FoundTiming] = []
    reasons: list[str] = []
    for schedule in schedules:
        try:
            if not Schedule.decode(schedule).deviations:  # the stock order itself: no replay needed
                reasons.append(_STOCK_ORDER)
                continue
            timing = stock_timing(scenario, buggy, schedule)
        except (SimharnessError, ValueError) as error:  # a stored schedule the code no longer fits
            reasons.append(str(error))
            continue
        if timing.expressible and timing.delays:
            timings.append(FoundTiming(schedule, timing.as_mapping(), timing.statement()))
        elif timing.expressible:  # nothing to slow down: the ordinary real runs are this timing
            reasons.append(_STOCK_ORDER)
        else:
            reasons.append(timing.statement())
    return tuple(timings), "; ".join(dict.fromkeys(reasons))
