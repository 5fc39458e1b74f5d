"""Run the bench: every entry against its buggy and its fixed release, one table.

    python benchmarks/bugbench/run.py [NAME ...] [--seeds 10] [--cap 1000] [--fixed-runs 10000]
        [--strategies random,pct,portfolio] [--timeout 1800] [--out results.json]

Needs the venvs of `install.py`. For each entry:

* buggy release: for each strategy, schedules to the first failure over seeds 0..S-1
  (median and max; a seed that found nothing within --cap counts as more than cap),
  and how many distinct schedules the first 100 schedules of seed 0 are;
* buggy release, `--rate-runs N`: how many of N schedules of seed 0 fail, per strategy
  (the per-schedule failure rate: less noisy than a median over 10 seeds, and the
  portfolio's rate is the mean of its members', so its expected schedules to a failure
  are at most twice the better member's);
* fixed release: --fixed-runs schedules of seed 0 per strategy, counting failures
  (false alarms: a failure on the fixed release is a defect of simharness or of the
  scenario).

An entry whose venv is missing, or whose measurement fails or outlasts --timeout, is
reported on its row and the rest go on (exit code 2 then). The raw figures go to --out
as JSON, merged into what that file already holds (so entries can be measured one at a
time); the markdown table printed covers every entry of the file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bugs import BUGS, Bug  # noqa: E402
from install import installed, python_of, selected  # noqa: E402

MEASURE = HERE / "measure.py"


def measure(python: Path, bug: Bug, extra: list[str], timeout: float) -> dict[str, object]:
    """Run measure.py for `bug` with `python`; its JSON, or {"error": one line}."""
    try:
        done = subprocess.run([str(python), str(MEASURE), str(HERE / bug.file), "--variant", "default", *extra],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:g} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {"error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def cell(entry: object) -> str:
    """'median / max' of schedules to first failure, '> cap' when not found."""
    if not isinstance(entry, dict):
        return "-"
    cap = entry.get("cap")
    median, worst = entry.get("median"), entry.get("max")
    text = f"{median:g}" if median is not None else f"> {cap}"
    return f"{text} / {worst if worst is not None else f'> {cap}'}"


def rate(entry: object, strategy: str) -> str:
    """Failing schedules per 1000 on the buggy release ('-' when not measured)."""
    if not isinstance(entry, dict) or strategy not in entry:
        return "-"
    count = entry[strategy]["count"]
    return f"{1000 * count['failed'] / count['runs']:.0f}" if count["runs"] else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cap", type=int, default=1000)
    parser.add_argument("--fixed-runs", type=int, default=10000)
    parser.add_argument("--rate-runs", type=int, default=1000)
    parser.add_argument("--only-rate", action="store_true",
                        help="only (re)measure the failure rate on the buggy release; keep the rest of each row")
    parser.add_argument("--strategies", default="random,pct,portfolio")
    parser.add_argument("--timeout", type=float, default=1800.0, help="wall-clock cap of one measurement (s)")
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    for flag, value, low in (("--seeds", args.seeds, 1), ("--cap", args.cap, 1), ("--fixed-runs", args.fixed_runs, 0),
                             ("--rate-runs", args.rate_runs, 0)):
        if value < low:
            print(f"error: {flag} must be at least {low}, got {value}", file=sys.stderr)
            return 2
    try:
        bugs = selected(args.names)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 2
    strategies = args.strategies.split(",")
    out = Path(args.out)
    results: dict[str, dict[str, object]] = json.loads(out.read_text()) if out.exists() else {}
    problems = 0
    for bug in bugs:
        row: dict[str, object] = {"package": bug.package, "buggy": bug.buggy, "fixed": bug.fixed}
        if args.only_rate:
            row = {**results.get(bug.name, {}), **row}
        missing = [v for v in (bug.buggy, bug.fixed) if not installed(bug.package, v)]
        if missing:
            row["error"] = f"not installed: {', '.join(f'{bug.package}=={v}' for v in missing)} (run install.py)"
        elif args.only_rate:
            row["buggy_rate"] = measure(python_of(bug.package, bug.buggy), bug,
                                        ["--strategies", ",".join(strategies), "--count", str(args.rate_runs)],
                                        args.timeout)
        else:
            row["buggy_run"] = measure(python_of(bug.package, bug.buggy), bug,
                                       ["--strategies", ",".join(strategies), "--seeds", str(args.seeds),
                                        "--cap", str(args.cap), "--distinct", "100"], args.timeout)
            if args.rate_runs:
                row["buggy_rate"] = measure(python_of(bug.package, bug.buggy), bug,
                                            ["--strategies", ",".join(strategies), "--count", str(args.rate_runs)],
                                            args.timeout)
            if args.fixed_runs:
                row["fixed_run"] = measure(python_of(bug.package, bug.fixed), bug,
                                           ["--strategies", ",".join(strategies), "--count", str(args.fixed_runs)],
                                           args.timeout)
        problems += any("error" in part for part in (row, row.get("buggy_run", {}), row.get("fixed_run", {}),
                                                     row.get("buggy_rate", {})) if isinstance(part, dict))
        results[bug.name] = row
        print(f"{bug.name}: {json.dumps(row)}", file=sys.stderr, flush=True)
        out.write_text(json.dumps(results, indent=1) + "\n")  # after every entry: a long run keeps its part
    print(table(results, strategies, args))
    return 2 if problems else 0


def table(results: dict[str, dict[str, object]], strategies: list[str], args: argparse.Namespace) -> str:
    """The markdown table: per strategy median / max to first failure, distinct per 100, false alarms."""
    head = (["bug", "package buggy -> fixed"] + [f"{s} median / max" for s in strategies]
            + [f"{s} failing/1000" for s in strategies]
            + [f"{s} distinct/100" for s in strategies] + ["false alarms (fixed)"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in sorted(results.items()):
        versions = f"{row['package']} {row['buggy']} -> {row['fixed']}"
        if "error" in row:
            lines.append(f"| {name} | {versions} | {row['error']} |")
            continue
        buggy = row.get("buggy_run", {})
        fixed = row.get("fixed_run", {})
        if isinstance(buggy, dict) and "error" in buggy:
            lines.append(f"| {name} | {versions} | buggy: {buggy['error']} |")
            continue
        cells = [cell(buggy.get(s)) for s in strategies]  # type: ignore[union-attr]
        cells += [rate(row.get("buggy_rate"), s) for s in strategies]
        cells += [str(buggy.get(s, {}).get("distinct", "-")) for s in strategies]  # type: ignore[union-attr]
        if isinstance(fixed, dict) and "error" in fixed:
            alarms = f"error: {fixed['error']}"
        elif isinstance(fixed, dict) and fixed:
            alarms = ", ".join(f"{s} {fixed[s]['count']['failed']}/{fixed[s]['count']['runs']}"
                               for s in strategies if s in fixed)
        else:
            alarms = "not run"
        lines.append(f"| {name} | {versions} | " + " | ".join(cells) + f" | {alarms} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
