"""Real suites: open-source projects' own asyncio test suites on the stock loop and under --sim.

The fidelity oracle of issue 14 (point 7) and the validation of the pytest plugin of issue
16 (point 5). For each project of `benchmarks/real_suites.toml` the script installs its
released sdist at the pinned version (the sdist ships the tests), the pinned test
dependencies and simharness (editable, this checkout) into a venv of its own under
`.real-suites/` (git-ignored; reused while its stamp matches the config), unpacks the
sdist there, and runs the project's own tests three times, one process at a time:

* `stock`: plain pytest with simharness turned off (`-p no:simharness`);
* `sim1`:  `pytest --sim --sim-runs 1` (each asyncio test once in asyncio's own order);
* `sim20`: `pytest --sim --sim-runs 20` (20 schedules per test; run only when sim1 shows
  no unexplained difference, unless --force).

Each run writes JUnit XML; the plugin's properties on each test (`simharness_status`,
`simharness_schedules`, `simharness_async_fixtures`, `simharness_detail`) give what was
explored, left alone or refused. Per project it prints async tests collected, explored
(and how many of those with async fixtures), unsupported, passes per mode, failures, wall
times, and every test whose outcome differs from the stock run (with the first line of
its failure), for docs/pytest-plugin.md and docs/fidelity.md.

    python benchmarks/real_suites.py [--python PATH] [--modes stock,sim1,sim20] [--seed N]
                                     [--timeout S] [--force] [--json OUT] [PROJECT ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "real_suites.toml"
CACHE = ROOT / ".real-suites"
MODES = {"stock": ["-p", "no:simharness"], "sim1": ["--sim", "--sim-runs", "1"], "sim20": ["--sim", "--sim-runs", "20"]}
EXPLORED = {"passed", "failed"}


def sh(args: list[str], **kwargs: object) -> None:
    """Run a set-up command; its output only when it fails."""
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def prepare(name: str, spec: dict, common: list[str], python: str) -> tuple[Path, Path]:
    """The project's venv python and unpacked source directory (built once, reused while current)."""
    home = CACHE / f"{name}-{spec['version']}-py{Path(python).name}"
    venv_python = home / "venv" / "bin" / "python"
    wanted = json.dumps([python, spec["version"], spec.get("deps", []), common])  # not pytest_args: no rebuild
    stamp = home / "stamp"
    source = home / "src"
    if stamp.exists() and stamp.read_text() == wanted:
        return venv_python, next(source.iterdir())
    print(f"[{name}] building venv and source in {home}", flush=True)
    sh([python, "-m", "venv", "--clear", str(home / "venv")])
    sdists = home / "sdist"
    sdists.mkdir(parents=True, exist_ok=True)
    sh([str(venv_python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(sdists),
        f"{name}=={spec['version']}"])
    sdist = next(sdists.glob("*.tar.gz"))
    if source.exists():
        subprocess.run(["rm", "-rf", str(source)], check=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(source, filter="data")
    sh([str(venv_python), "-m", "pip", "install", "-q", str(sdist), *common, *spec.get("deps", []),
        "-e", str(ROOT)])
    stamp.write_text(wanted)
    return venv_python, next(source.iterdir())


def run_mode(venv_python: Path, source: Path, spec: dict, mode: str, seed: int, timeout_s: float,
             out: Path) -> dict:
    """One pytest run of the project's tests; its per-test outcomes and properties from JUnit XML."""
    xml = out / f"{mode}.xml"
    xml.unlink(missing_ok=True)
    args = [str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            f"--junitxml={xml}", "-o", "junit_family=xunit1", *MODES[mode], *spec["pytest_args"]]
    if mode != "stock":
        args += ["--sim-seed", str(seed), "--sim-store", "off"]
    env = {**os.environ, "PYTHONHASHSEED": "0", "HYPOTHESIS_PROFILE": "default"}
    started = time.monotonic()
    with open(out / f"{mode}.log", "w") as log:
        child = subprocess.Popen(args, cwd=source, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)  # its helpers end with its process group
        try:
            code = child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = -1
        finally:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    wall = time.monotonic() - started
    tests = parse_junit(xml) if xml.exists() else {}
    return {"mode": mode, "exit": code, "wall_s": round(wall, 2), "timed_out": code == -1, "tests": tests}


def parse_junit(xml: Path) -> dict[str, dict]:
    """Test id -> {outcome, message, properties} from a JUnit XML file."""
    tests: dict[str, dict] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or node.text or "").strip().splitlines()[:1]
                message = message[0][:240] if message else ""
                break
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        tests[key] = {"outcome": outcome, "message": message, "properties": properties}
    return tests


def summarize(name: str, runs: dict[str, dict]) -> dict:
    """The table row of one project, and the tests whose outcome differs from the stock run."""
    stock = runs["stock"]["tests"]
    row: dict = {"project": name, "tests": len(stock), "stock_wall_s": runs["stock"]["wall_s"],
                 "passed_stock": sum(t["outcome"] == "passed" for t in stock.values()), "differences": {}}
    reference = runs.get("sim1") or runs.get("sim20")
    if reference is not None:
        statuses = {k: t["properties"].get("simharness_status") for k, t in reference["tests"].items()}
        details = {k: t["properties"].get("simharness_detail", "") for k, t in reference["tests"].items()}
        own_loop = {k for k, s in statuses.items() if s == "left-alone" and "asyncio.run()" in details[k]}
        async_tests = {k for k, s in statuses.items() if s and k not in own_loop}
        explored = {k for k in async_tests if statuses[k] in EXPLORED}
        fixtures = {k for k in explored if int(reference["tests"][k]["properties"].get("simharness_async_fixtures", 0))}
        alone: dict[str, int] = {}
        for k in async_tests - explored:
            why = statuses[k] if statuses[k] != "left-alone" else f"left alone: {details[k]}"
            if statuses[k] == "unsupported":
                why = f"unsupported: {details[k]}"
            alone[why] = alone.get(why, 0) + 1
        row.update(async_collected=len(async_tests), explored=len(explored), explored_with_async_fixtures=len(fixtures),
                   own_loop_sync_tests=len(own_loop),
                   unsupported=sum(s == "unsupported" for s in statuses.values()), not_explored=alone,
                   passed_stock_async=sum(stock.get(k, {}).get("outcome") == "passed" for k in async_tests))
    for mode in ("sim1", "sim20"):
        if mode not in runs:
            continue
        tests = runs[mode]["tests"]
        row[f"passed_{mode}"] = sum(t["outcome"] == "passed" for t in tests.values())
        row[f"{mode}_wall_s"] = runs[mode]["wall_s"]
        row[f"{mode}_timed_out"] = runs[mode]["timed_out"]
        row[f"failures_{mode}"] = sum(t["outcome"] in ("failed", "error") for t in tests.values())
        row[f"schedules_{mode}"] = sum(int(t["properties"].get("simharness_schedules", 0)) for t in tests.values())
        row["differences"][mode] = {
            k: f"{t['outcome']}: {t['message']}" for k, t in tests.items()
            if k in stock and t["outcome"] != stock[k]["outcome"]
            and not (t["outcome"] == "skipped" and t["properties"].get("simharness_status") == "unsupported")}
        row["differences"][mode].update({k: "missing from this run" for k in stock if k not in tests})
    return row


def markdown(rows: list[dict]) -> str:
    """The two tables of the docs: the plugin's (docs/pytest-plugin.md) and the fidelity one (docs/fidelity.md)."""
    def ratio(row: dict, mode: str) -> str:
        return f"{row[mode + '_wall_s'] / row['stock_wall_s']:.2f}x" if row.get(mode + "_wall_s") else "-"

    lines = ["| project | async tests | explored (with async fixtures) | unsupported | passed stock | "
             "passed --sim-runs 1 | passed --sim-runs 20 | failures found | wall stock / runs 1 / runs 20 (s) | "
             "runs 1 vs stock |", "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for row in rows:
        lines.append(
            f"| {row['project']} {row['version']} | {row.get('async_collected', '-')} | "
            f"{row.get('explored', '-')} ({row.get('explored_with_async_fixtures', '-')}) | {row.get('unsupported', '-')} | "
            f"{row['passed_stock']} | {row.get('passed_sim1', '-')} | {row.get('passed_sim20', '-')} | "
            f"{len(row['differences'].get('sim20', row['differences'].get('sim1', {})))} | "
            f"{row['stock_wall_s']} / {row.get('sim1_wall_s', '-')} / {row.get('sim20_wall_s', '-')} | {ratio(row, 'sim1')} |")
    lines += ["", "| project | tests | pass stock | pass default order | pass under exploration (20) | differences |",
              "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['project']} {row['version']} | {row['tests']} | {row['passed_stock']} | "
                     f"{row.get('passed_sim1', '-')} | {row.get('passed_sim20', '-')} | "
                     f"{len(set().union(*row['differences'].values()))} |")  # distinct tests
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--modes", default="stock,sim1,sim20")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="wall-time limit of one pytest run (s)")
    parser.add_argument("--force", action="store_true", help="run sim20 even when sim1 differs from stock")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--tables", type=Path, help="print the docs' tables from a --json file and exit")
    options = parser.parse_args(argv)
    if options.tables:
        print(markdown(json.loads(options.tables.read_text())))
        return 0
    config = tomllib.loads(CONFIG.read_text())
    projects = config["projects"]
    unknown = [p for p in options.projects if p not in projects]
    if unknown:
        parser.error(f"unknown project(s): {', '.join(unknown)} (known: {', '.join(projects)})")
    modes = [m for m in options.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        parser.error(f"--modes takes {', '.join(MODES)}")
    rows = []
    for name in options.projects or list(projects):
        spec = projects[name]
        venv_python, source = prepare(name, spec, config["common"]["deps"], options.python)
        out = venv_python.parent.parent.parent / "runs"
        out.mkdir(exist_ok=True)
        runs: dict[str, dict] = {}
        for mode in modes:
            if mode == "sim20" and "sim1" in runs and not options.force and summarize(name, runs)["differences"]["sim1"]:
                print(f"[{name}] sim20 not run: sim1 differs from stock (--force runs it)", flush=True)
                continue
            runs[mode] = run_mode(venv_python, source, spec, mode, options.seed, options.timeout, out)
            print(f"[{name}] {mode}: exit {runs[mode]['exit']}, {runs[mode]['wall_s']} s", flush=True)
        row = summarize(name, runs)
        row.update(version=spec["version"], kind=spec["kind"], python=options.python, seed=options.seed,
                   config_hash=hashlib.sha256(CONFIG.read_bytes()).hexdigest()[:12])
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
        if options.json:  # after every project: an interrupted run keeps what it measured
            options.json.write_text(json.dumps(rows, indent=1))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
