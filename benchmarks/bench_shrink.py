"""Shrink benchmark: time and replays the shrinker needs on the part-1 catalogue.

    python benchmarks/bench_shrink.py                 # part-1 catalogue + token races
    python benchmarks/bench_shrink.py --seeds 5       # more explorations per scenario
    python benchmarks/bench_shrink.py scenarios/x.py # any scenario files

For each failing variant (expect "fail"), explores with PCT (no failure store) for
each seed, then shrinks the failure found and reports the median shrink time, the
replays used, and the non-default choices before and after. A scenario file that
does not exist yet is listed as missing. Run on an idle machine for comparable times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simharness as sh  # noqa: E402
from simharness.engine.execution import Execution, RunEnvironment, RunSettings  # noqa: E402
from simharness.engine.realtime import perf_counter  # noqa: E402
from simharness.explore.runner import ExploreOptions, explore_variant  # noqa: E402
from simharness.engine.schedule import Schedule  # noqa: E402
from simharness.explore.shrink import shrink  # noqa: E402
from simharness.engine.strategies import GuidedStrategy  # noqa: E402

PART_ONE = ("token_overwrite.py", "callback_server_clobber.py", "slug_collision.py", "blocked_ready_precedence.py")
EXTRA = (ROOT / "tests" / "fixtures" / "shrink" / "token_race.py",)


def measure(scenario: sh.Scenario, variant: str, seeds: int, runs: int) -> dict[str, object] | None:
    """Median shrink time/replays over the failures PCT finds with seeds 0..seeds-1."""
    times: list[float] = []
    replays: list[int] = []
    before: list[int] = []
    after: list[int] = []
    for seed in range(seeds):
        found = explore_variant(scenario, variant, ExploreOptions(strategy="pct", runs=runs, seed=seed, shrink=False))
        if found.failure is None:
            continue
        original = Schedule.decode(found.failure.original_schedule)
        with RunEnvironment(RunSettings()) as environment:
            execution = Execution(scenario, variant, environment)
            strategy = GuidedStrategy(original.indices)
            strategy.begin_run(1)
            start = execution.run(strategy)  # the failing run, recreated to shrink from
            if start.failure is None or start.failure.kind != found.failure.kind:
                continue  # not reproducible: nothing to shrink (reported as such below)
            began = perf_counter()
            outcome = shrink(execution, start)
            times.append(perf_counter() - began)
        replays.append(outcome.replays)
        before.append(original.deviations)
        after.append(outcome.result.schedule.deviations)
    if not times:
        return None
    return {"found": len(times), "time_ms": statistics.median(times) * 1000, "replays": statistics.median(replays),
            "before": statistics.median(before), "after": statistics.median(after),
            "max_replays": max(replays)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="scenario files (default: part-1 catalogue and token races)")
    parser.add_argument("--seeds", type=int, default=3, help="explorations per failing variant")
    parser.add_argument("--runs", type=int, default=2000, help="PCT schedules per exploration")
    args = parser.parse_args()
    files = [Path(f) for f in args.files] or [ROOT / "scenarios" / name for name in PART_ONE] + list(EXTRA)
    print(f"shrink benchmark: PCT, {args.seeds} seed(s), up to {args.runs} runs each; medians\n")
    print("| scenario | variant | failures shrunk | shrink time (ms) | replays (median / max) "
          "| non-default choices before -> after |")
    print("|---|---|---:|---:|---:|---|")
    for path in files:
        if not path.is_file():
            print(f"| {path.name} | - | missing | - | - | - |")
            continue
        for scenario in sh.load_file(path):
            failing = [v for v in scenario.variant_names if scenario.expectation(v) == "fail"] or (
                list(scenario.variant_names) if path in EXTRA and scenario.name.startswith("token-race") else [])
            for variant in failing:
                try:
                    row = measure(scenario, variant, args.seeds, args.runs)
                except sh.SimharnessError as error:
                    print(f"| {scenario.name} | {variant} | error: {error} | - | - | - |")
                    continue
                if row is None:
                    print(f"| {scenario.name} | {variant} | 0 (none found) | - | - | - |")
                    continue
                print(f"| {scenario.name} | {variant} | {row['found']} | {row['time_ms']:.1f} "
                      f"| {row['replays']:g} / {row['max_replays']} | {row['before']:g} -> {row['after']:g} |")


if __name__ == "__main__":
    main()
