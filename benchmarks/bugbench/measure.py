"""Measure one scenario variant: schedules to first failure per strategy, distinct schedules, false alarms.

    python benchmarks/bugbench/measure.py FILE.py[::NAME] --variant V [--strategies random,pct,portfolio]
        [--seeds 10] [--cap 1000] [--distinct 100] [--count N] [--json]

Run by `run.py` with the interpreter of a venv that holds the library version under
test (the buggy or the fixed release), and usable alone on any scenario file (the
catalogue's too). For each strategy and seeds 0..S-1 it runs `explore_variant` without
shrinking and records the run index of the first failure (none within --cap counts as
"more than cap"). `--distinct N`: how many distinct schedules the first N schedules of
seed 0 are. `--count N`: run N schedules per strategy and count the failing ones (the
false-alarm check on a fixed version). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from simharness.discovery import load_file  # noqa: E402
from simharness.engine.execution import Execution, RunEnvironment, RunSettings  # noqa: E402
from simharness.engine.strategies import make_strategy  # noqa: E402
from simharness.explore.runner import ExploreOptions, explore_variant  # noqa: E402
from simharness.explore.schedules import (  # noqa: E402
    CALIBRATED_STRATEGIES, INDEXED_STRATEGIES, ScheduleRunner, make_spec, outcome_of,
)
from simharness.scenario import Scenario  # noqa: E402


def first_failures(scenario: Scenario, variant: str, strategy: str, seeds: int, cap: int) -> list[int | None]:
    """Per seed, the run index of the first failure (None: none within `cap`)."""
    found: list[int | None] = []
    for seed in range(seeds):
        exploration = explore_variant(scenario, variant, ExploreOptions(strategy=strategy, runs=cap, seed=seed,
                                                                         shrink=False), store=None)
        found.append(exploration.failure.run_index if exploration.failure is not None else None)
    return found


def distinct_schedules(scenario: Scenario, variant: str, strategy: str, runs: int) -> int:
    """How many distinct schedules (encoded decisions) the first `runs` schedules of seed 0 are."""
    if strategy not in INDEXED_STRATEGIES:  # run in sequence, as `explore` runs it
        chooser = make_strategy(strategy, seed=0, depth=3)
        found: set[str] = set()
        with RunEnvironment(RunSettings()) as environment:
            execution = Execution(scenario, variant, environment)
            for index in range(1, runs + 1):
                if not chooser.begin_run(index):
                    break
                found.add(execution.run(chooser).schedule.encode())
                chooser.end_run()
        return len(found)
    spec = make_spec(scenario, variant, strategy=strategy, seed=0, depth=3, settings=RunSettings())
    seen: set[str] = set()
    with ScheduleRunner(scenario) as runner:
        first = outcome_of(1, runner.run(spec, 1))
        seen.add(first.schedule)
        if strategy in CALIBRATED_STRATEGIES:
            spec = spec.calibrated(first)
        seen.update(outcome_of(i, runner.run(spec, i)).schedule for i in range(2, runs + 1))
    return len(seen)


def count_failures(scenario: Scenario, variant: str, strategy: str, runs: int) -> dict[str, int]:
    """Run `runs` schedules of seed 0 (no stop at a failure): how many failed."""
    exploration = explore_variant(scenario, variant, ExploreOptions(strategy=strategy, runs=runs, seed=0,
                                                                     shrink=False, count_outcomes=True), store=None)
    failed = sum(row.count for row in exploration.outcomes if row.outcome != "pass")
    return {"runs": exploration.runs, "failed": failed}


def summary(found: list[int | None], cap: int) -> dict[str, object]:
    """Median and max over seeds; a seed that found nothing counts as more than `cap`."""
    values = sorted(float("inf") if f is None else f for f in found)
    median = statistics.median(values)
    return {"found": found, "median": None if median == float("inf") else median,
            "max": None if values[-1] == float("inf") else values[-1], "cap": cap}


def pick(path: str) -> Scenario:
    """The scenario of `FILE.py[::NAME]` (the only one in the file when no NAME)."""
    file, _, name = path.partition("::")
    scenarios = load_file(Path(file))
    chosen = [s for s in scenarios if not name or s.name == name]
    if len(chosen) != 1:
        raise SystemExit(f"{path}: expected one scenario, found {[s.name for s in scenarios]}")
    return chosen[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--strategies", default="random,pct,portfolio")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cap", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args(argv)
    scenario = pick(args.target)
    result: dict[str, object] = {"scenario": scenario.name, "variant": args.variant}
    for strategy in args.strategies.split(","):
        entry: dict[str, object] = {}
        if args.count:
            entry["count"] = count_failures(scenario, args.variant, strategy, args.count)
        else:
            entry.update(summary(first_failures(scenario, args.variant, strategy, args.seeds, args.cap), args.cap))
        if args.distinct:
            entry["distinct"] = distinct_schedules(scenario, args.variant, strategy, args.distinct)
        result[strategy] = entry
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
