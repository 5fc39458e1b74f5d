"""The README's catalogue table: each race's stock failure rate next to what simulation finds.

Used by `bench_catalogue.py --readme`. For every variant expected to fail, one row:

* stock failure rate: the variant run N times with plain `asyncio.run` (no simharness);
* default order: the all-zero schedule (the stock run) in simulation, pass or fail;
* schedules to first failure: pct and random, median and max over seeds (`>R` when a
  seed found none within R schedules);
* confirmed on stock: the failure pct seed 0 finds (shrunk, as `explore` and `stress`
  report it), restated as checkpoint durations and run on plain asyncio
  (`simharness confirm`); the next seeds' failures are tried when one has no stock
  equivalent;
* fixed variant under the found timing: every variant expected to pass, run on plain
  asyncio under those durations.

Rows of scenarios declared `deterministic=True` go in a second table, those of
real-only scenarios (`backends=("real",)`) in a third.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from simharness.engine.schedule import Schedule
from simharness.engine.strategies import FifoStrategy
from simharness.errors import ConfigError, SimharnessError
from simharness.explore.runner import ExploreOptions, explore_variant, run_strategy
from simharness.real.confirm import Confirmation, confirm, new_watch, run_under_timing
from simharness.real.loopwatch import LoopWatch
from simharness.scenario import Scenario

COLUMNS = ("scenario", "variant", "stock failure rate", "default order",
           "pct: schedules to 1st failure (median, max)", "random: (median, max)", "confirmed on stock",
           "fixed under the found timing")


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    seeds: int
    cap: int
    confirm_runs: int
    timed_runs: int
    tries: int = 3   # seeds whose failure is tried for a stock timing


def first_failures(scenario: Scenario, variant: str, strategy: str, settings: Settings) -> str:
    found = []
    for seed in range(settings.seeds):
        failure = explore_variant(scenario, variant, ExploreOptions(strategy=strategy, runs=settings.cap, seed=seed,
                                                                    shrink=False), store=None).failure
        found.append(failure.run_index if failure is not None else None)
    values = sorted(f if f is not None else float("inf") for f in found)
    median = statistics.median(values)

    def shown(value: float) -> str:
        return f">{settings.cap}" if value == float("inf") else f"{value:g}"

    return f"{shown(median)}, {shown(values[-1])}"


def default_order(scenario: Scenario, variant: str) -> str:
    failure = run_strategy(scenario, variant, FifoStrategy()).failure
    return "passes" if failure is None else f"fails ({failure.kind})"


def _confirmation(scenario: Scenario, variant: str, settings: Settings,
                  watch: LoopWatch) -> tuple[Confirmation | None, str]:
    reasons = []
    for seed in range(settings.tries):
        failure = explore_variant(scenario, variant, ExploreOptions(strategy="pct", runs=settings.cap, seed=seed),
                                  store=None).failure
        if failure is None:
            continue
        if not Schedule.decode(failure.schedule).deviations:
            return None, "the stock order fails (see the stock rate)"
        try:
            return confirm(scenario, variant, failure.schedule, runs=settings.confirm_runs, watch=watch), ""
        except ConfigError as error:
            reasons.append(str(error).removeprefix("this failure has no stock equivalent: no stock timing: "))
    return None, "no stock timing: " + (reasons[0].split("; ")[0] if reasons else "no failure found")


def confirmed_cells(scenario: Scenario, variant: str, settings: Settings, watch: LoopWatch) -> tuple[str, str]:
    """(confirmed on stock, fixed variants under the found timing)."""
    confirmation, why = _confirmation(scenario, variant, settings, watch)
    if confirmation is None:
        return why, "-"
    delays = ", ".join(f"{d.label} {d.seconds * 1000:.0f} ms" for d in confirmation.timing.delays)
    confirmed = f"{confirmation.matched}/{len(confirmation.runs)} ({delays})"
    fixed = []
    for other in scenario.variant_names:
        if scenario.expectation(other) != "pass":
            continue
        outcomes = run_under_timing(scenario, other, confirmation.timing.as_mapping(), settings.timed_runs, watch)
        failed = sum(1 for o in outcomes if o.kind is not None)
        fixed.append(f"{other}: {failed}/{len(outcomes)} fail")
    return confirmed, "; ".join(fixed) or "-"


def rows(scenarios: list[Scenario], settings: Settings, stock_rate: Callable[[Scenario, str], str],
         progress: Callable[[str], None]) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """(intermittent, deterministic, real-backend-only) rows of every buggy variant."""
    watch = new_watch()
    intermittent: list[list[str]] = []
    deterministic: list[list[str]] = []
    real_only: list[list[str]] = []
    for scenario in scenarios:
        simulated = "sim" in tuple(scenario.options.get("backends", ("sim", "real")))
        for variant in scenario.variant_names:
            if scenario.expectation(variant) != "fail":
                continue
            cells = [scenario.name, variant, stock_rate(scenario, variant)]
            if simulated:
                try:
                    cells += [default_order(scenario, variant),
                              first_failures(scenario, variant, "pct", settings),
                              first_failures(scenario, variant, "random", settings),
                              *confirmed_cells(scenario, variant, settings, watch)]
                except SimharnessError as error:
                    cells += [f"error: {error}"] + ["-"] * 4
            else:
                cells += ["real backend only"] + ["-"] * 4
            group = real_only if not simulated else deterministic if scenario.deterministic else intermittent
            group.append(cells)
            progress(" | ".join(cells))
    return intermittent, deterministic, real_only


def markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table]
    return "\n".join(lines)
