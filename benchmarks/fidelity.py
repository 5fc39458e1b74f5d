"""Fidelity: CPython's own asyncio tests, run on the stock loop and on the controlled loop.

For each module of `test.test_asyncio` named below, the script runs the module's tests
in a fresh interpreter per mode (one interpreter at a time): once on the stock event
loop, then once per chosen strategy with every loop the tests build replaced by a
`ControlledLoop` (the policy's `new_event_loop()`, `asyncio.BaseEventLoop`,
`asyncio.SelectorEventLoop`, and the suite's own `test_utils.TestLoop`; see
benchmarks/fidelity_child.py).

Strategies: `fifo` (option 0 everywhere: the stock order) and `random` (each loop gets
a `RandomStrategy` seeded from (--seed, loop number); the seed is printed, so a run is
reproducible). `--strategy both` runs fifo and random.

Per module it prints: tests, passes on the stock loop and on the controlled loop, how
many tests ran at least one step on a controlled loop (a test that never touches a loop
proves nothing), the decisions the strategy made, tests refused because they used an API
simulation refuses by design (`UnsupportedInSimulation`, named), and the stock-passing
tests that fail on the controlled loop for any other reason (a loop defect or a
timing-dependent test; see docs/fidelity.md for the investigation).

    python benchmarks/fidelity.py [--python PATH] [--strategy fifo|random|both] [--seed N]
                                  [--json OUT] [MODULE ...]

Modules default to the ten below; `test_events+nowatcher` (opt-in) is test_events with
its SIGCHLD child watcher not attached on the controlled loop. Environment:
FIDELITY_SETTLE_S (default 10: the loop's settle timeout) and FIDELITY_TEST_WALL_S
(default 120: a test still running then errors). Default strategy: random, seed 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: A variant row: test_events with the SIGCHLD child watcher of its Unix test classes built
#: but not attached on the controlled loop (see fidelity_child.py), so that the bodies of
#: those tests run instead of all of them being refused in setUp. Opt-in (name it as a module).
NO_WATCHER = "test_events+nowatcher"
MODULES = ["test_locks", "test_queues", "test_taskgroups", "test_timeouts", "test_waitfor", "test_pep492",
           "test_futures", "test_tasks", "test_context", "test_events"]
ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "fidelity_child.py"


def run(python: str, mode: str, module: str, seed: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if module == NO_WATCHER:
        module = "test_events"
        env["FIDELITY_NO_CHILD_WATCHER"] = "1"
    # Output goes to files, not pipes, and the child runs in its own session: some tests
    # start helpers (multiprocessing's forkserver and resource tracker) that outlive the
    # child and would hold a pipe open; they are ended with the child's process group.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([python, str(CHILD), mode, module, str(seed)], stdout=out, stderr=err,
                                 text=True, env=env, start_new_session=True)
        try:
            child.wait(timeout=1800)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if timed_out:
        return {"run": 0, "tests": {}, "error": "timed out after 1800 s"}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"run": 0, "tests": {}, "error": stderr[-600:]}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def refused_api(entry: dict[str, object]) -> str:
    """`loop.add_reader()` out of an UnsupportedInSimulation message (else the message)."""
    messages = entry.get("refused") or []
    for message in messages:  # type: ignore[union-attr]
        found = re.search(r"(loop\.\w+\([^)]*\))", str(message))
        if found:
            return found.group(1)
    return str(messages[0])[:80] if messages else "?"  # type: ignore[index]


def summarize(stock: dict[str, object], controlled: dict[str, object]) -> dict[str, object]:
    stock_tests: dict[str, dict[str, object]] = stock["tests"]  # type: ignore[assignment]
    tests: dict[str, dict[str, object]] = controlled["tests"]  # type: ignore[assignment]
    passed = [t for t, e in tests.items() if e.get("outcome") == "pass"]
    stepped = [t for t, e in tests.items() if e.get("stepped", 0)]
    refused: dict[str, str] = {}
    lost: dict[str, str] = {}
    for test, entry in stock_tests.items():
        if entry.get("outcome") != "pass":
            continue
        mine = tests.get(test, {"outcome": "missing"})
        if mine.get("outcome") == "pass":
            continue
        if mine.get("refused"):
            refused[test] = refused_api(mine)
        else:
            lost[test] = str(mine.get("error", mine.get("outcome")))
    return {"passed": len(passed), "stepped": len(stepped), "loops": controlled.get("loops", 0),
            "decisions": sum(int(e.get("decisions", 0)) for e in tests.values()),  # type: ignore[arg-type]
            "passed_while_refusing": sorted(t for t, e in tests.items() if e.get("refused") and e.get("outcome") == "pass"),
            "refused": refused, "lost": lost, "error": controlled.get("error")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--strategy", choices=["fifo", "random", "both"], default="random")
    parser.add_argument("--seed", type=int, default=0, help="random: loop n uses derive_seed(SEED, n)")
    parser.add_argument("--json", help="write the per-test results here")
    parser.add_argument("modules", nargs="*", default=MODULES)
    args = parser.parse_args()
    strategies = ["fifo", "random"] if args.strategy == "both" else [args.strategy]
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"Python {version}; strategies: {', '.join(strategies)}"
          + (f"; seed {args.seed}" if "random" in strategies else "") + "\n")
    head = ["module", "tests", "pass (stock)"]
    for name in strategies:
        head += [f"pass ({name})", f"used / stepped a controlled loop ({name})", f"decisions ({name})"]
    head += ["refused API (unsupported)", "stock-passing tests that fail controlled"]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 3) + "---|---|")
    record: dict[str, object] = {"python": version, "seed": args.seed, "strategies": strategies, "modules": {}}
    for module in args.modules:
        stock = run(args.python, "stock", module, args.seed)
        stock_tests: dict[str, dict[str, object]] = stock["tests"]  # type: ignore[assignment]
        row = [module, str(stock["run"]), str(sum(1 for e in stock_tests.values() if e.get("outcome") == "pass"))]
        if stock.get("error"):
            row[1] += f" (stock run error: {stock['error']!r})"
        refused: dict[str, str] = {}
        lost: dict[str, list[str]] = {}  # test method -> a strategy name per class it failed in
        details: dict[str, object] = {"stock": stock}
        for name in strategies:
            controlled = run(args.python, name, module, args.seed)
            summary = summarize(stock, controlled)
            details[name] = controlled
            details[name + "_summary"] = summary
            used = sum(1 for e in controlled["tests"].values() if e.get("loops", 0))  # type: ignore[union-attr]
            row += [str(summary["passed"]), f"{used} / {summary['stepped']}", str(summary["decisions"])]
            refused.update(summary["refused"])  # type: ignore[arg-type]
            for test in summary["lost"]:  # type: ignore[union-attr]
                lost.setdefault(test.rsplit(".", 1)[-1], []).append(name)
            if summary["error"]:
                lost.setdefault(f"{name} run error: {summary['error']!r}", [])
            if controlled.get("interrupted"):
                lost.setdefault(f"{name} run interrupted after {controlled['run']} tests", [])
        apis: dict[str, int] = {}
        for api in refused.values():
            apis[api] = apis.get(api, 0) + 1
        row.append(f"{len(refused)}: " + ", ".join(f"{a} {n}" for a, n in sorted(apis.items())) if refused else "0")
        # per test method: in how many test classes it failed, under which strategies
        row.append(", ".join(f"{t} ×{len(s) // len(strategies) or 1} ({'/'.join(sorted(set(s)))})"
                             for t, s in sorted(lost.items())) if lost else "none")
        print("| " + " | ".join(row) + " |", flush=True)
        record["modules"][module] = details  # type: ignore[index]
        if args.json:  # after every module: an interrupted run keeps what it measured
            Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
