"""Real-backend throughput: runs per second per scenario variant at concurrency 1, 4 and 16.

    PYTHONPATH=. python benchmarks/bench_real.py [TARGET...] [--runs 30] [--levels 1,4,16]
    PYTHONPATH=. python benchmarks/bench_real.py --long [TARGET...]   # opt-in, long

Default mode runs every variant once per level through the real stress machinery
(worker process, own directory, leak checks, fsynced evidence) with one worker and
prints, per variant and level: loop runs/s (1 / median wall time of one run, all
copies at once), copies/s (scenario copies completed per second) and end-to-end runs/s
(runs / wall time of the whole level, worker start-up and per-run checks included).

`--long` runs each fixed (expect pass) variant 10,000 times at concurrency 1 under
`--load 2 --noise 0.1` with 2 workers and prints failures per variant: the evidence
that fixed variants survive the real runtime under load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from simharness.engine.realtime import perf_counter
from simharness.stress import StressOptions, run_stress


def _quick(targets: tuple[str, ...], runs: int, levels: tuple[int, ...], scenarios_dir: str,
           only_fixed: bool) -> None:
    print(f"{'scenario[variant]':44} {'level':>5} {'loop runs/s':>12} {'copies/s':>10}")
    with tempfile.TemporaryDirectory() as reports:
        for level in levels:
            options = StressOptions(targets=targets, scenarios_dir=scenarios_dir, backend="real", runs=runs,
                                    concurrency=(level,), workers=1, timeout_s=30.0, report_dir=reports,
                                    only_expect="pass" if only_fixed else None)
            started = perf_counter()
            report = run_stress(options)
            wall = perf_counter() - started
            total = sum(r.runs for r in report.results)
            for result in report.results:
                (row,) = result.levels
                loop_rate = 1 / row.median_run_s if row.median_run_s else 0.0
                name = f"{result.scenario}[{result.variant}]"
                print(f"{name[:44]:44} {level:>5} {loop_rate:>12.1f} {row.copies_per_s or 0:>10.1f}"
                      f"  failures {row.failures}/{row.runs}")
            # Worker start-up, per-run leak checks and fsynced evidence included.
            print(f"{'(all variants, end to end)':44} {level:>5} {total / wall if wall else 0.0:>12.1f} runs/s")


def _long(targets: tuple[str, ...], runs: int, scenarios_dir: str, report_dir: str) -> int:
    options = StressOptions(targets=targets, scenarios_dir=scenarios_dir, backend="real", runs=runs,
                            concurrency=(1,), workers=2, timeout_s=60.0, noise=0.1, load=2,
                            report_dir=report_dir, only_expect="pass")
    report = run_stress(options)
    print(f"{'scenario[variant]':44} {'runs':>7} {'failures':>9}  outcomes")
    for result in report.results:
        outcomes = ", ".join(f"{o.outcome} {o.count}" for o in result.outcomes)
        print(f"{result.scenario + '[' + result.variant + ']':44} {result.runs:>7} {result.failures:>9}  {outcomes}")
    print(f"{report.elapsed_s:.0f} s, ok={report.ok}, evidence: {report.log_path}")
    return 0 if report.ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--scenarios-dir", default="scenarios")
    parser.add_argument("--long", action="store_true", help="10,000 runs per fixed variant under load and noise")
    parser.add_argument("--report-dir", default="reports/bench-real")
    parser.add_argument("--only-fixed", action="store_true", help="benchmark only expect-pass variants")
    args = parser.parse_args(argv)
    targets = tuple(args.targets)
    if args.long:
        return _long(targets, args.runs or 10_000, args.scenarios_dir, args.report_dir)
    _quick(targets, args.runs or 30, tuple(int(x) for x in args.levels.split(",")), args.scenarios_dir,
           args.only_fixed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
