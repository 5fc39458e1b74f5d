"""Fidelity: CPython's own asyncio tests, run on the stock loop and on the controlled loop.

For each module of `test.test_asyncio` named below, the script runs the module's
tests twice in a fresh interpreter: once with the stock event loop policy, once
with a policy whose `new_event_loop()` returns a `ControlledLoop` in FIFO order.
It prints passes per module for both, and lists tests that pass on the stock loop
but not on the controlled one.

    python benchmarks/fidelity.py [--python PATH] [MODULE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

MODULES = ["test_locks", "test_queues", "test_taskgroups", "test_timeouts", "test_waitfor", "test_pep492"]
ROOT = Path(__file__).resolve().parent.parent

_CHILD = r'''
import asyncio, json, sys, unittest
mode, module = sys.argv[1], sys.argv[2]
if mode == "controlled":
    from simharness.engine.loop import ControlledLoop

    created = []

    class ControlledPolicy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self):
            created.append(1)
            return ControlledLoop(choose=lambda options: 0, max_steps=10**8, settle_timeout_s=60.0)

    asyncio.set_event_loop_policy(ControlledPolicy())

    class FifoLoop(ControlledLoop):
        # test_pep492 builds `asyncio.BaseEventLoop()` directly: hand it ours instead.
        def __init__(self):
            created.append(1)
            super().__init__(choose=lambda options: 0, max_steps=10**8, settle_timeout_s=60.0)

    asyncio.BaseEventLoop = FifoLoop
    import test.test_asyncio.utils as _utils  # some modules reset the policy in tearDownModule
suite = unittest.defaultTestLoader.loadTestsFromName("test.test_asyncio." + module)

class Collect(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.passed = []
    def addSuccess(self, test):
        self.passed.append(test.id())

result = Collect()
suite.run(result)
loops = len(created) if mode == "controlled" else 0
print(json.dumps({"loops": loops, "passed": result.passed, "failed": [t.id() for t, _ in result.failures + result.errors],
                  "skipped": len(result.skipped), "run": result.testsRun}))
'''


def run(python: str, mode: str, module: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([python, "-c", _CHILD, mode, module], capture_output=True, text=True,
                          env=env, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"passed": [], "failed": [], "skipped": 0, "run": 0, "error": done.stderr[-400:]}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("modules", nargs="*", default=MODULES)
    args = parser.parse_args()
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"Python {version}\n")
    print("| module | tests | pass (stock) | pass (controlled, FIFO) | controlled loops created | stock-passing tests that fail controlled |")
    print("|---|---:|---:|---:|---:|---|")
    for module in args.modules:
        stock = run(args.python, "stock", module)
        controlled = run(args.python, "controlled", module)
        lost = sorted(set(stock["passed"]) - set(controlled["passed"]))  # type: ignore[arg-type]
        names = ", ".join(t.rsplit(".", 1)[-1] for t in lost) or "none"
        print(f"| {module} | {stock['run']} | {len(stock['passed'])} | {len(controlled['passed'])} | {controlled.get('loops', 0)} | {names} |")
        if "error" in controlled:
            print(f"<!-- controlled run error: {controlled['error']!r} -->")


if __name__ == "__main__":
    main()
