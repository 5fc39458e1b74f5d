"""Measure explore's executors (issue 17): in-process, worker processes, a local Dask cluster.

    python benchmarks/bench_scaling.py [TARGET] [--variant V] [--runs 10000] [--strategy pct] [--repeat 1]

Runs `simharness explore TARGET --count-outcomes --json` (every schedule, no early
stop) per configuration with R and R/10 schedules and prints one markdown table: wall
time of the whole command (start-up included), schedules per second over the wall time,
marginal schedules per second ((R - R/10) / (time(R) - time(R/10)): start-up and
the last, unbalanced batches subtracted), the CPU time of the command and every process
under it (robust to other load on the machine), and the ratios the issue sets targets
for, each way:

* `--workers 2` vs `--workers 1`: speed-up on 2 cores, target >= 1.8x;
* `--cluster local --workers 2` vs `--workers 2`: overhead, target <= 15 %;
* `--workers 1` vs in-process: cost per schedule in a worker, target <= 1.1x.

It also checks that every configuration printed the same outcome table (the result
must not depend on the executor) and says so. The default target is a catalogue
scenario with short schedules, where per-schedule overhead shows most.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIGS: dict[str, tuple[str, ...]] = {
    "in-process": (),
    "--workers 1": ("--workers", "1"),
    "--workers 2": ("--workers", "2"),
    "--cluster local --workers 2": ("--cluster", "local", "--workers", "2"),
}


def run(target: str, variant: str, runs: int, strategy: str, extra: tuple[str, ...]) -> tuple[float, float, list[dict]]:
    """(wall seconds, CPU seconds of the command and every process it waited for, outcome table)."""
    command = [sys.executable, "-m", "simharness", "explore", target, "--variant", variant, "--runs", str(runs),
               "--strategy", strategy, "--count-outcomes", "--json", *extra]
    env = {**os.environ, "SIMHARNESS_STORE": "off"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    outcomes = json.loads(done.stdout)["results"][0]["outcomes"]
    return elapsed, cpu, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", default="clear-all-toctou")
    parser.add_argument("--variant", default="buggy")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--strategy", default="pct")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the best time counts")
    parser.add_argument("--only", action="append", choices=list(CONFIGS), help="measure only these configurations")
    args = parser.parse_args()
    times: dict[str, float] = {}
    marginal: dict[str, float] = {}  # seconds per schedule once running: start-up subtracted
    cpu: dict[str, float] = {}
    cpu_marginal: dict[str, float] = {}  # CPU seconds per schedule, start-up subtracted
    tables: dict[str, list[dict]] = {}
    small = max(1, args.runs // 10)
    for name, extra in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        best, best_small, best_cpu, best_cpu_small = (float("inf"),) * 4
        for _ in range(args.repeat):
            elapsed, used, outcomes = run(args.target, args.variant, args.runs, args.strategy, extra)
            best, best_cpu = min(best, elapsed), min(best_cpu, used)
            elapsed_small, used_small, _ = run(args.target, args.variant, small, args.strategy, extra)
            best_small, best_cpu_small = min(best_small, elapsed_small), min(best_cpu_small, used_small)
            tables[name] = outcomes
        times[name] = best
        cpu[name] = best_cpu
        cpu_marginal[name] = max(1e-9, (best_cpu - best_cpu_small) / (args.runs - small))
        marginal[name] = max(1e-9, (best - best_small) / (args.runs - small))
        print(f"{name}: {best:.1f} s for {args.runs}, {best_small:.1f} s for {small}", file=sys.stderr)
    print(f"{args.target} [{args.variant}], {args.strategy}, {args.runs} schedules, --count-outcomes, "
          f"{os.cpu_count()} CPUs\n")
    print("| configuration | wall time (s) | CPU time (s) | schedules/s (wall) | schedules/s (marginal) |")
    print("|---|---:|---:|---:|---:|")
    for name, elapsed in times.items():
        print(f"| `{name}` | {elapsed:.1f} | {cpu[name]:.1f} | {args.runs / elapsed:.0f} | {1 / marginal[name]:.0f} |")
    ratios = [("speed-up, `--workers 1` / `--workers 2` (target >= 1.8)", "--workers 1", "--workers 2"),
              ("overhead, `--cluster local --workers 2` / `--workers 2` (target <= 1.15)",
               "--cluster local --workers 2", "--workers 2"),
              ("cost per schedule, `--workers 1` / in-process (target <= 1.1)", "--workers 1", "in-process")]
    print()
    for label, a, b in ratios:
        if a in times and b in times:
            print(f"* {label}: {times[a] / times[b]:.2f} wall, {marginal[a] / marginal[b]:.2f} marginal wall, "
                  f"{cpu[a] / cpu[b]:.2f} CPU, {cpu_marginal[a] / cpu_marginal[b]:.2f} marginal CPU")
    same = len({json.dumps(t, sort_keys=True) for t in tables.values()}) == 1
    print(f"* outcome tables identical across configurations: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
