"""dfs with and without its reduction: schedules to exhaust, and the bookkeeping's cost.

    PYTHONPATH=. python benchmarks/bench_dfs_reduction.py            # both tables (~20 min)
    PYTHONPATH=. python benchmarks/bench_dfs_reduction.py --quick    # small cap, fewer rows

Table 1: per scenario, variant and bound, the schedules plain and reduced dfs run to
exhaust the space (or "not in CAP"), and whether both found the same distinct outcomes
(every schedule is run: outcomes are counted, failures do not stop the search).
Table 2: runs per CPU second (process time: the machine may be shared) on the reference
workload (benchmarks/reference.py), the k=3 token race and token-overwrite, with the
loop's history digest off (plain dfs) and on (reduced dfs): the cost of the reduction's
bookkeeping, apart from the schedules it saves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import simharness as sh  # noqa: E402
from simharness import ExploreOptions, explore_variant  # noqa: E402
from simharness.discovery import resolve_one  # noqa: E402
from simharness.engine.execution import Execution, RunEnvironment, RunSettings  # noqa: E402
from simharness.engine.realtime import perf_counter  # noqa: E402
from simharness.engine.strategies import DFSStrategy  # noqa: E402

SMALL = ROOT / "tests" / "fixtures" / "dfs" / "small.py"
RACES = ROOT / "tests" / "fixtures" / "engine" / "token_race.py"

#: (target, variant, bound): catalogue scenarios dfs can finish, then the two on the
#: simulated network (token-overwrite, callback-server-clobber) within bounds and without.
ROWS: tuple[tuple[str, str, int | None], ...] = (
    ("sync-lock-in-async", "fixed", None),
    ("clear-all-toctou", "buggy", None),
    ("clear-all-toctou", "fixed", None),
    ("metrics-lost-update", "buggy", None),
    ("metrics-lost-update", "fixed", None),
    ("shared-provider-isolation", "buggy", None),
    ("shared-provider-isolation", "fixed", None),
    ("order-dependent-aggregation", "fixed", None),
    ("failed-agent-aggregation", "buggy", None),
    ("blocked-ready-precedence", "buggy-sequential", 3),  # aiosqlite: worker threads
    ("db-lost-update", "buggy", 2),                       # aiosqlite: worker threads
    (f"{SMALL}::two-clients-one-server", "default", None),
    ("token-overwrite", "fixed", 2),
    ("token-overwrite", "buggy", 3),
    ("callback-server-clobber", "buggy", 2),
    ("callback-server-clobber", "fixed", 2),
    ("token-overwrite", "fixed", None),
    ("callback-server-clobber", "fixed", None),
)
QUICK_ROWS = ROWS[:5] + ROWS[9:10]


def _scenario(target: str) -> sh.Scenario:
    if "::" in target:
        path, name = target.split("::")
        return {s.name: s for s in sh.load_file(path)}[name]
    return resolve_one(target, ROOT / "scenarios")


def exhaust(target: str, variant: str, bound: int | None, reduction: bool, cap: int) -> tuple[str, set[str], float]:
    """Schedules to exhaust (or "not in CAP"), the distinct outcomes, the seconds it took."""
    started = perf_counter()
    options = ExploreOptions(strategy="dfs", runs=cap, bound=bound, reduction=reduction,
                             count_outcomes=True, shrink=False)
    exploration = explore_variant(_scenario(target), variant, options, store=None)
    outcomes = {f"{row.kind}: {row.first_message}" for row in exploration.outcomes}
    runs = f"{exploration.runs:,}" if exploration.exhausted else f"not in {cap:,}"
    return runs, outcomes, perf_counter() - started


def exhaust_table(rows: tuple[tuple[str, str, int | None], ...], cap: int) -> None:
    print("| scenario | variant | bound | plain dfs: schedules to exhaust | reduced dfs | same outcomes | seconds (plain / reduced) |")
    print("|---|---|---|---|---|---|---|")
    for target, variant, bound in rows:
        plain, plain_outcomes, plain_s = exhaust(target, variant, bound, False, cap)
        reduced, reduced_outcomes, reduced_s = exhaust(target, variant, bound, True, cap)
        both = not plain.startswith("not") and not reduced.startswith("not")
        same = ("yes" if plain_outcomes == reduced_outcomes else "NO") if both else "-"
        name = target.rsplit("::", 1)[-1]
        print(f"| {name} | {variant} | {'-' if bound is None else bound} | {plain} | {reduced} | {same} "
              f"| {plain_s:.1f} / {reduced_s:.1f} |", flush=True)


def runs_per_second(scenario: sh.Scenario, variant: str, reduction: bool, runs: int) -> float:
    """Runs of one scenario per second, a fresh dfs each run (always its first schedule)."""
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, variant, environment)
        started = time.process_time()
        for _ in range(runs):
            strategy = DFSStrategy(reduction=reduction)
            strategy.begin_run(1)
            execution.run(strategy)
            strategy.end_run()
        return runs / (time.process_time() - started)


def enumerate_per_second(scenario: sh.Scenario, variant: str, reduction: bool, runs: int) -> float:
    """Schedules per second while dfs enumerates (reduced: its pruned runs included)."""
    strategy = DFSStrategy(reduction=reduction)
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, variant, environment)
        started = time.process_time()
        done = 0
        for index in range(1, runs + 1):
            if not strategy.begin_run(index):
                break
            execution.run(strategy)
            strategy.end_run()
            done = index
        return done / (time.process_time() - started)


def overhead_table(repeats: int, runs: int) -> None:
    reference = sh.load_file(ROOT / "benchmarks" / "reference.py")[0]
    race = {s.name: s for s in sh.load_file(RACES)}["token-race-k3"]
    print("| workload | plain dfs (runs per CPU s, median) | reduced dfs (runs per CPU s, median) | change |")
    print("|---|---|---|---|")
    network = resolve_one("token-overwrite", ROOT / "scenarios")
    cases = (("reference workload (5 tasks x 10 awaits), one schedule per run", reference, "default",
              runs_per_second),
             ("token-race-k3, dfs enumerating its first schedules", race, "default", enumerate_per_second),
             ("token-overwrite (fixed, simulated network), dfs enumerating its first schedules", network, "fixed",
              enumerate_per_second))
    for label, scenario, variant, measure in cases:
        plain, reduced = [], []
        for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
            plain.append(measure(scenario, variant, False, runs))
            reduced.append(measure(scenario, variant, True, runs))
        p, r = statistics.median(plain), statistics.median(reduced)
        print(f"| {label} | {p:,.0f} | {r:,.0f} | {100 * (r - p) / p:+.1f}% |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cap, fewer rows")
    parser.add_argument("--cap", type=int, default=None, help="schedules per cell (default 50,000; quick 5,000)")
    parser.add_argument("--only", choices=("exhaust", "overhead"), default=None)
    args = parser.parse_args()
    cap = args.cap or (5_000 if args.quick else 50_000)
    if args.only in (None, "exhaust"):
        exhaust_table(QUICK_ROWS if args.quick else ROWS, cap)
        print()
    if args.only in (None, "overhead"):
        overhead_table(repeats=3 if args.quick else 7, runs=100 if args.quick else 300)


if __name__ == "__main__":
    main()
