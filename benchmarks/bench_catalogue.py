"""Measure every catalogue scenario: schedules to first failure, and the stock loop's rate.

    PYTHONPATH=. python benchmarks/bench_catalogue.py [NAME ...] [--seeds 20] [--runs 1000]
        [--stock-runs 10000] [--stock-budget 900] [--strategies random,pct] [--variant V]

For each scenario in `scenarios/` (or the NAMEs given) and each variant:

* simulation: for each strategy (random, pct) and seeds 0..S-1, how many schedules
  `explore` ran until the first failure (no shrinking); the table shows the median over
  the seeds, and `none in R` when no seed found one within `--runs` R schedules;
* stock loop: the variant run `--stock-runs` times with plain `asyncio.run` (the real
  runtime, no simharness at all), counting runs that raised. Those runs happen in a
  child process per variant with a wall-clock budget (`--stock-budget`), because a
  buggy variant may hang the real loop (a blocked thread cannot be cancelled); the
  table then says how many runs finished. The count used is always printed.

Prints one markdown table. Scenarios declared `backends=("real",)` get no simulated
columns.

    PYTHONPATH=. python benchmarks/bench_catalogue.py --readme [NAME ...] [--seeds 10]
        [--runs 1000] [--stock-runs 100] [--confirm-runs 20] [--timed-runs 20]

prints the README's catalogue table instead (`catalogue_table.py`): per buggy variant,
the stock failure rate, the default order, schedules to first failure (pct and random:
median, max), the found failure confirmed on stock asyncio under its checkpoint
durations, and the fixed variants under those durations; deterministic bugs apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # catalogue_table beside this file

from simharness.discovery import load_directory, load_file  # noqa: E402
from simharness.explore.runner import ExploreOptions, explore_variant  # noqa: E402
from simharness.scenario import Scenario  # noqa: E402


@dataclass(frozen=True)
class SimResult:
    """Schedules to first failure over seeds, for one strategy."""

    found: list[int]   # run index of the first failure, per seed that found one
    seeds: int
    cap: int

    def cell(self) -> str:
        if not self.found:
            return f"none in {self.cap}"
        # A seed that found nothing counts as "more than cap" (censored), not as missing.
        values = sorted(self.found) + [float("inf")] * (self.seeds - len(self.found))
        median = statistics.median(values)
        text = f"> {self.cap}" if median == float("inf") else f"{median:g}"
        if len(self.found) < self.seeds:
            text += f" ({len(self.found)}/{self.seeds} seeds found one)"
        return text


@dataclass(frozen=True)
class StockResult:
    """Failures on the stock asyncio loop."""

    runs: int
    failures: int
    planned: int
    note: str = ""

    def cell(self) -> str:
        text = f"{self.failures}/{self.runs}"
        if self.runs < self.planned:
            text += f" (of {self.planned} planned: {self.note or 'budget reached'})"
        return text


def simulate(scenario: Scenario, variant: str, strategy: str, seeds: int, cap: int) -> SimResult:
    found = []
    for seed in range(seeds):
        exploration = explore_variant(scenario, variant, ExploreOptions(strategy=strategy, runs=cap, seed=seed,
                                                                       shrink=False))
        if exploration.failure is not None:
            found.append(exploration.failure.run_index)
    return SimResult(found, seeds, cap)


def stock_worker(path: str, name: str, variant: str, runs: int) -> int:
    """Child process: run the variant `runs` times on the stock loop, print progress as JSON lines."""
    scenario = next(s for s in load_file(path) if s.name == name)
    failures: dict[str, int] = {}
    done = 0
    for index in range(1, runs + 1):
        try:
            asyncio.run(scenario.coroutine(variant))
        except Exception as error:  # any escaping exception is a failed run
            kind = type(error).__name__
            failures[kind] = failures.get(kind, 0) + 1
        done = index
        if index % 50 == 0 or index == runs:
            print(json.dumps({"runs": done, "failures": sum(failures.values()), "kinds": failures}), flush=True)
    return 0


def stock(scenario: Scenario, variant: str, runs: int, budget_s: float) -> StockResult:
    command = [sys.executable, __file__, "--stock-worker", scenario.source_file, scenario.name, variant, str(runs)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    note = ""
    try:
        out, _ = process.communicate(timeout=budget_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        note = f"stopped after {budget_s:g} s"
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        return StockResult(0, 0, runs, note or f"worker exited with {process.returncode}")
    last = json.loads(lines[-1])
    return StockResult(last["runs"], last["failures"], runs, note)


def readme(args: argparse.Namespace) -> int:
    """The README's catalogue table, intermittent races first, deterministic bugs apart."""
    from catalogue_table import Settings, markdown, rows  # beside this file

    scenarios = [s for s in load_directory(args.scenarios_dir) if not args.names or s.name in args.names]
    settings = Settings(args.seeds, args.runs, args.confirm_runs, args.timed_runs)
    started = time.perf_counter()

    def rate(scenario: Scenario, variant: str) -> str:
        result = stock(scenario, variant, args.stock_runs, args.stock_budget)
        if not result.runs:  # the first run never returned: the stock loop hangs (a deadlock, a blocked loop)
            return f"hangs (no run returned within {args.stock_budget:g} s)"
        return f"{result.cell()} ({result.failures / result.runs:.0%})"

    intermittent, deterministic, real_only = rows(scenarios, settings, rate,
                                                  lambda line: print(line, file=sys.stderr))
    print(f"seeds 0..{args.seeds - 1}, at most {args.runs} schedules per seed; stock: {args.stock_runs} runs "
          f"of plain asyncio.run; {args.confirm_runs} stock runs under the found timing, {args.timed_runs} per "
          f"fixed variant ({time.perf_counter() - started:.0f} s)\n")
    print("Intermittent races\n\n" + markdown(intermittent) + "\n\nDeterministic bugs\n\n" + markdown(deterministic)
          + "\n\nReal backend only\n\n" + markdown(real_only))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--stock-worker"]:
        path, name, variant, runs = argv[1:5]
        return stock_worker(path, name, variant, int(runs))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenario names (default: every scenario in scenarios/)")
    parser.add_argument("--scenarios-dir", default=str(ROOT / "scenarios"))
    parser.add_argument("--variant", action="append", help="only these variants (repeatable)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1000, help="schedules per seed before giving up")
    parser.add_argument("--strategies", default="random,pct")
    parser.add_argument("--stock-runs", type=int, default=10_000)
    parser.add_argument("--stock-budget", type=float, default=900.0, help="wall seconds per variant on the stock loop")
    parser.add_argument("--readme", action="store_true", help="the README's catalogue table (see the docstring)")
    parser.add_argument("--confirm-runs", type=int, default=20, help="--readme: stock runs under the found timing")
    parser.add_argument("--timed-runs", type=int, default=20, help="--readme: fixed-variant runs under it")
    args = parser.parse_args(argv)
    if args.readme:
        return readme(args)
    strategies = [s for s in args.strategies.split(",") if s]
    scenarios = [s for s in load_directory(args.scenarios_dir) if not args.names or s.name in args.names]
    print(f"seeds 0..{args.seeds - 1}, at most {args.runs} schedules per seed; "
          f"stock loop: {args.stock_runs} runs per variant (budget {args.stock_budget:g} s)\n")
    header = ["scenario", "variant", "expect"] + [f"{s}: schedules to 1st failure (median)" for s in strategies]
    header += [f"stock asyncio: failures/runs"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for scenario in scenarios:
        sim_ok = "sim" in tuple(scenario.options.get("backends", ("sim", "real")))
        for variant in scenario.variant_names:
            if args.variant and variant not in args.variant:
                continue
            started = time.perf_counter()
            cells = [scenario.name, variant, scenario.expectation(variant)]
            for strategy in strategies:
                cells.append(simulate(scenario, variant, strategy, args.seeds, args.runs).cell()
                             if sim_ok else "real backend only")
            cells.append(stock(scenario, variant, args.stock_runs, args.stock_budget).cell()
                         if args.stock_runs else "not run")
            print("| " + " | ".join(cells) + " |", flush=True)
            print(f"  ({scenario.name}/{variant}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
