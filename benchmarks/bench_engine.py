"""Engine benchmarks: speed, search power, time compression, memory (issue 2's table).

    python benchmarks/bench_engine.py            # full run (several minutes)
    python benchmarks/bench_engine.py --quick    # smaller counts, same table

Prints a markdown table per measurement. Numbers are medians where repeated; run
on an otherwise idle machine for comparable figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import reference  # noqa: E402

import simharness as sh  # noqa: E402
from simharness.engine.execution import Execution, RunEnvironment, RunSettings  # noqa: E402
from simharness.engine.realtime import perf_counter  # noqa: E402
from simharness.engine.strategies import make_strategy  # noqa: E402

RACES = {s.name: s for s in sh.load_file(ROOT / "tests" / "fixtures" / "engine" / "token_race.py")}
REFERENCE = sh.load_file(ROOT / "benchmarks" / "reference.py")[0]


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def schedules_per_second(scenario: sh.Scenario, strategy_name: str, runs: int) -> float:
    strategy = make_strategy(strategy_name, seed=1)
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, "default", environment)
        started = perf_counter()
        for index in range(1, runs + 1):
            strategy.begin_run(index)
            execution.run(strategy)
            strategy.end_run()
        return runs / (perf_counter() - started)


def explore_per_second(runs: int) -> float:
    """Schedules per second through the public API (`sh.explore_variant`, random)."""
    started = perf_counter()
    exploration = sh.explore_variant(REFERENCE, "default", sh.ExploreOptions(strategy="random", runs=runs, seed=1),
                                     store=None)
    assert exploration.failure is None and exploration.runs == runs
    return runs / (perf_counter() - started)


def stock_per_second(runs: int, reuse: bool) -> float:
    loop = asyncio.new_event_loop() if reuse else None
    started = perf_counter()
    for _ in range(runs):
        if loop is not None:
            loop.run_until_complete(reference.workload())
        else:
            asyncio.run(reference.workload())
    elapsed = perf_counter() - started
    if loop is not None:
        loop.close()
    return runs / elapsed


def bench_speed(runs: int, rounds: int = 7) -> None:
    print("\n### Reference workload (5 tasks x 10 awaits: sleep(0), Lock, Event)\n")
    # Rounds interleave the four configurations, so a change in machine load hits all
    # of them alike; each figure is the median over the rounds.
    samples: dict[str, list[float]] = {"run": [], "reused": [], "random": [], "pct": [], "api": []}
    for _ in range(rounds):
        samples["run"].append(stock_per_second(runs, reuse=False))
        samples["reused"].append(stock_per_second(runs, reuse=True))
        samples["random"].append(schedules_per_second(REFERENCE, "random", runs))
        samples["pct"].append(schedules_per_second(REFERENCE, "pct", runs))
        samples["api"].append(explore_per_second(runs))
    rate = {name: statistics.median(values) for name, values in samples.items()}
    ratio = {name: statistics.median(r / s for r, s in zip(samples["run"], values))
             for name, values in samples.items()}
    print(f"{rounds} interleaved rounds of {runs:,} runs each; medians.\n")
    print("| configuration | schedules/s | cost per schedule vs `asyncio.run` |")
    print("|---|---:|---:|")
    print(f"| stock loop, `asyncio.run` per run | {rate['run']:,.0f} | 1.00x |")
    print(f"| stock loop, one loop reused | {rate['reused']:,.0f} | {ratio['reused']:.2f}x |")
    for name in ("random", "pct"):
        print(f"| simharness `{name}` (tracing, determinism, watchdog on) | {rate[name]:,.0f} | {ratio[name]:.2f}x |")
    print(f"| simharness through `sh.explore_variant` (random, whole campaign) | {rate['api']:,.0f} | {ratio['api']:.2f}x |")


def runs_to_failure(k: int, strategy: str, seeds: int, cap: int) -> tuple[float, int]:
    found = []
    for seed in range(seeds):
        exploration = sh.explore_variant(RACES[f"token-race-k{k}"], "default",
                                         sh.ExploreOptions(strategy=strategy, runs=cap, seed=seed, shrink=False))
        found.append(exploration.failure.run_index if exploration.failure else None)
    hits = [f for f in found if f is not None]
    median = statistics.median(f if f is not None else cap + 1 for f in found)
    return median, len(hits)


def stock_failures(k: int, repetitions: int) -> int:
    module = sys.modules[RACES[f"token-race-k{k}"].function.__module__]
    scenario = RACES[f"token-race-k{k}"]
    loop = asyncio.new_event_loop()
    failures = 0
    for _ in range(repetitions):
        try:
            loop.run_until_complete(scenario.coroutine("default"))
        except AssertionError:
            failures += 1
    loop.close()
    del module
    return failures


def bench_search(seeds: int, cap: int, stock_runs: int) -> None:
    print(f"\n### k-checkpoint token race: schedules to first failure (median over {seeds} seeds, cap {cap})\n")
    print(f"| k | random | pct (depth 3) | stock loop failures in {stock_runs:,} runs |")
    print("|---:|---:|---:|---:|")
    for k in (0, 3, 10, 20):
        cells = []
        for strategy in ("random", "pct"):
            median, hits = runs_to_failure(k, strategy, seeds, cap)
            cells.append(f"{median:g}" if hits == seeds else f">{cap} ({hits}/{seeds} found)" if hits == 0
                         else f"{median:g} ({hits}/{seeds} found)")
        print(f"| {k} | {cells[0]} | {cells[1]} | {stock_failures(k, stock_runs):,} |")


def bench_time_compression() -> None:
    hour = sh.load_file(ROOT / "tests" / "fixtures" / "engine" / "timing.py")[0]
    runs = 200
    started = perf_counter()
    result = None
    for _ in range(runs):
        result = sh.run_strategy(hour, "default", make_strategy("fifo"))
    elapsed = perf_counter() - started
    assert result is not None and result.failure is None
    print("\n### Virtual time\n")
    print("| measure | value |\n|---|---:|")
    print(f"| 1-hour `asyncio.sleep` scenario, wall time per run (incl. freezegun start/stop) | {elapsed / runs * 1000:.2f} ms |")
    print(f"| virtual seconds per wall second | {3600 * runs / elapsed:,.0f} |")
    started = perf_counter()
    for _ in range(20):
        with RunEnvironment(RunSettings()):
            pass
    print(f"| freezegun start+stop (once per exploration, not per schedule) | {(perf_counter() - started) / 20 * 1000:.1f} ms |")


def bench_memory(total: int) -> None:
    print(f"\n### Memory over {total:,} schedules (reference workload, pct)\n")
    strategy = make_strategy("pct", seed=2)
    marks = {total * i // 4 for i in range(1, 5)}
    rows = [("0", rss_mib())]
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(REFERENCE, "default", environment)
        started = perf_counter()
        for index in range(1, total + 1):
            strategy.begin_run(index)
            execution.run(strategy)
            strategy.end_run()
            if index in marks:
                rows.append((f"{index:,}", rss_mib()))
        elapsed = perf_counter() - started
    print("| schedules run | RSS (MiB) |\n|---:|---:|")
    for label, value in rows:
        print(f"| {label} | {value:.1f} |")
    print(f"\n{total / elapsed:,.0f} schedules/s over the whole run.")


def bench_heap(runs: int) -> None:
    print("\n### Exploration speed against heap size\n")
    print("The stock loop is measured next to it: a large heap slows the interpreter itself")
    print("(caches, allocation); what must not happen is garbage collection scanning it per run.\n")
    print("| live objects in the process | simharness `pct` schedules/s | stock `asyncio.run` runs/s |")
    print("|---:|---:|---:|")
    ballast: list[object] = []
    for size in (0, 1_000_000, 3_000_000):
        ballast.extend({"n": i} for i in range(size - len(ballast)))
        gc.collect()
        rate = statistics.median(schedules_per_second(REFERENCE, "pct", runs) for _ in range(3))
        stock = statistics.median(stock_per_second(runs, reuse=False) for _ in range(3))
        print(f"| {size:,} | {rate:,.0f} | {stock:,.0f} |")
    ballast.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--only", choices=("speed", "search", "time", "heap", "memory"),
                        help="run one measurement only")
    args = parser.parse_args()
    quick = args.quick
    print(f"Python {sys.version.split()[0]}")
    if args.only in (None, "speed"):
        bench_speed(500 if quick else 2000)
    if args.only in (None, "search"):
        bench_search(seeds=20, cap=2000 if quick else 20000, stock_runs=1000 if quick else 10000)
    if args.only in (None, "time"):
        bench_time_compression()
    if args.only in (None, "heap"):
        bench_heap(500 if quick else 2000)
    if args.only in (None, "memory"):
        bench_memory(10_000 if quick else 100_000)


if __name__ == "__main__":
    main()
