"""The simulated half of a stress check, as run inside a worker process.

A variant is explored with PCT first (it finds most races within a few schedules),
then with uniform random choices for the rest of the budget, stopping at the first
failure; the result is a plain JSON-ready document for the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simharness.explore.runner import ExploreOptions, explore_variant
from simharness.scenario import Scenario
from simharness.explore.serialize import to_jsonable

#: Strategies tried in order, and each one's share of the schedule budget.
_PLAN: tuple[tuple[str, float], ...] = (("pct", 0.5), ("random", 0.5))


def budgets(total: int) -> list[tuple[str, int]]:
    """Split `total` schedules over the strategies of the plan (each gets at least one)."""
    first = max(1, round(total * _PLAN[0][1]))
    rest = total - first
    return [(_PLAN[0][0], first)] + ([(_PLAN[1][0], rest)] if rest > 0 else [])


def explore_for_stress(scenario: Scenario, variant: str, runs: int, seed: int,
                       progress: Callable[[int, int], None]) -> dict[str, Any]:
    """Explore one variant within `runs` schedules; `{"runs", "explorations", "found"}`."""
    explorations: list[dict[str, Any]] = []
    done = 0
    found: dict[str, Any] | None = None
    for strategy, budget in budgets(runs):
        offset = done

        def report(index: int, _planned: int, offset: int = offset) -> None:
            progress(offset + index, runs)

        exploration = explore_variant(scenario, variant, ExploreOptions(strategy=strategy, runs=budget, seed=seed),
                                      progress=report)
        done += exploration.runs
        explorations.append(to_jsonable(exploration))
        if exploration.failure is not None:
            found = {**to_jsonable(exploration.failure), "strategy": strategy, "seed": seed,
                     "schedules_before": offset}
            break
        if exploration.exhausted:
            break
    return {"runs": done, "explorations": explorations, "found": found}
