"""Reproduce real-runtime failures from their tracebacks alone (issue #22's measure).

    PYTHONPATH=. python benchmarks/bench_reproduce.py [TARGET...] [--runs 20] [--noise 0.3] [--load 2]
                                                     [--budget 2000] [--seed 0]
    PYTHONPATH=. python benchmarks/bench_reproduce.py --bugbench [--runs 20] ...   # real-bug bench entries

Step 1 records failures on the stock runtime: `simharness stress --backend real` runs each
selected scenario (default: every catalogue scenario with a variant expected to fail and
runnable in simulation) `--runs` times at concurrency 1 under `--load` CPU burners with
checkpoint `--noise`, and its run log keeps each failure with its traceback. Only runs of
the `real` backend count (not runs under a timing the simulation found).

Step 2 hands each distinct recorded failure (a variant's failures grouped by kind and
message, numbers masked) to `reproduce` with only the run log line as input: no schedule,
no seed from the recording. A row says how often stress saw it, whether it was
reproduced within `--budget` schedules, and after how many. The summary line gives the
share reproduced and the median schedules (the issue's targets: >= 90 %, <= 50).

`--bugbench` does the same for each entry of `benchmarks/bugbench/` whose buggy release
is installed (`benchmarks/bugbench/install.py`), in that release's venv, through the
command line (`simharness stress`, then `simharness reproduce --failure LOG --json`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from simharness.discovery import load_directory, resolve_one
from simharness.engine.realtime import perf_counter
from simharness.explore.reproduce import SearchOptions, compare, read_failures, reproduce_scenario
from simharness.explore.runner import replay
from simharness.stress import StressOptions, run_stress


def _catalogue(scenarios_dir: str) -> tuple[str, ...]:
    """Every scenario with a variant expected to fail that runs in simulation."""
    chosen = []
    for scenario in load_directory(scenarios_dir):
        backends = tuple(scenario.options.get("backends", ("sim", "real")))
        if "sim" in backends and any(scenario.expectation(v) == "fail" for v in scenario.variant_names):
            chosen.append(scenario.name)
    return tuple(chosen)


def _real_only(log: Path, into: Path) -> None:
    """The run log without the runs of other backends (timed runs follow a simulated failure)."""
    kept = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") != "run" or entry.get("backend") == "real":
            kept.append(line)
    into.write_text("\n".join(kept) + "\n")


def _bugbench_row(python: str, entry: Path, args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(recorded failure, seen, reproduced, schedules) of one bench entry, through the command line."""
    environment = {**os.environ, "SIMHARNESS_STORE": "off"}
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([python, "-m", "simharness", "stress", str(entry), "--backend", "real",
                        "--runs", str(args.runs), "--concurrency", "1", "--noise", str(args.noise),
                        "--load", str(args.load), "--timeout", "10", "--report-dir", folder],
                       capture_output=True, text=True, timeout=1800, env=environment)
        log = Path(folder) / "real-log.jsonl"
        _real_only(Path(folder) / "stress-log.jsonl", log)
        try:
            done = subprocess.run([python, "-m", "simharness", "reproduce", "--failure", str(log), "--json",
                                   "--runs", str(args.budget), "--seed", str(args.seed), "--no-store"],
                                  capture_output=True, text=True, timeout=args.entry_timeout, env=environment)
        except subprocess.TimeoutExpired:
            return "(recorded)", "?", f"not within {args.entry_timeout:g} s", "-"
    if done.returncode == 2:
        if "no failed real run" in done.stderr:  # the race never happened for real
            return "no failure on the stock runtime", f"0/{args.runs}", "-", "-"
        return done.stderr.strip()[:70], "?", "error", "-"
    document = json.loads(done.stdout)
    recorded, result = document["recorded"], document["results"][0]
    what = f"{recorded['exc_type'] or recorded['kind']}: {recorded['message']}"[:70]
    return (what, f"{recorded['seen']}/{recorded['out_of']}", "yes" if result["reproduced"] else "no",
            str(result["run_index"] or result["runs"]))


def _bugbench(args: argparse.Namespace) -> None:
    """One row per bench entry whose buggy release is installed, printed as it is measured."""
    here = Path(__file__).resolve().parent / "bugbench"
    sys.path.insert(0, str(here))
    from bugs import BUGS  # type: ignore[import-not-found]
    from install import installed, python_of  # type: ignore[import-not-found]
    print("| entry | recorded failure (first of the log) | seen | reproduced | schedules |")
    print("|---|---|---:|---|---:|")
    for bug in BUGS:
        if not installed(bug.package, bug.buggy):
            print(f"skipped {bug.name}: {bug.package} {bug.buggy} not installed", file=sys.stderr)
            continue
        cells = _bugbench_row(str(python_of(bug.package, bug.buggy)), here / bug.file, args)
        print(f"| {bug.name} ({bug.package} {bug.buggy}) | " + " | ".join(cells) + " |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--load", type=int, default=2)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios-dir", default="scenarios")
    parser.add_argument("--bugbench", action="store_true", help="the real-bug bench entries instead")
    parser.add_argument("--entry-timeout", type=float, default=900.0, help="--bugbench: seconds per reproduce")
    args = parser.parse_args()
    if args.bugbench:
        _bugbench(args)
        return 0
    targets = tuple(args.targets) or _catalogue(args.scenarios_dir)
    with tempfile.TemporaryDirectory() as folder:
        started = perf_counter()
        run_stress(StressOptions(targets=targets, scenarios_dir=args.scenarios_dir, backend="real", runs=args.runs,
                                 concurrency=(1,), workers=2, timeout_s=10.0, noise=args.noise, load=args.load,
                                 report_dir=folder, only_expect="fail"))
        print(f"recorded: {len(targets)} scenario(s) x {args.runs} real runs in {perf_counter() - started:.0f} s "
              f"(load {args.load}, noise {args.noise})", file=sys.stderr)
        log = Path(folder) / "real-log.jsonl"
        _real_only(Path(folder) / "stress-log.jsonl", log)
        try:
            recorded = read_failures(log)
        except Exception as error:  # noqa: BLE001 - no failure at all is a result too
            print(f"no real failure recorded: {error}")
            return 1
    print("| scenario / variant | recorded failure | seen | reproduced | schedules | replay matches | seconds |")
    print("|---|---|---:|---|---:|---|---:|")
    counts: list[int] = []
    for target in recorded:
        scenario = resolve_one(target.test_id, args.scenarios_dir)
        started = perf_counter()
        found = reproduce_scenario(scenario, target.variant, target,
                                   SearchOptions(runs=args.budget, seed=args.seed))
        spent = perf_counter() - started
        replayed = "-"
        if found.reproduced and found.result is not None:
            counts.append(found.run_index)
            # The printed schedule, replayed in this process, fails the recorded way again.
            again = replay(scenario, target.variant, found.result.schedule.encode())
            replayed = "yes" if again.failure is not None and compare(target, again.failure).matched else "NO"
        print(f"| {scenario.name} / {target.variant} | {target.describe()[:70]} | {target.seen}/{target.out_of} | "
              f"{'yes' if found.reproduced else 'no'} | {found.run_index if found.reproduced else found.runs} | "
              f"{replayed} | {spent:.1f} |", flush=True)
    share = len(counts) / len(recorded)
    median = statistics.median(counts) if counts else float("nan")
    print(f"\n{len(recorded)} recorded failure(s), {len(counts)} reproduced ({share:.0%}), "
          f"median {median:g} schedule(s) to reproduce")
    return 0


if __name__ == "__main__":
    sys.exit(main())
