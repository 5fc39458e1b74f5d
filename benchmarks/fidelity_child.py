"""One module of `test.test_asyncio` in this interpreter, on the stock or the controlled loop.

Run by `benchmarks/fidelity.py` in a fresh interpreter per (module, mode):

    python benchmarks/fidelity_child.py stock|fifo|random MODULE [SEED]

Prints one JSON line: per test its outcome and, in the controlled modes, how many
controlled loops it created, how many of them ran a step, how many decisions they made,
and which APIs they refused (`UnsupportedInSimulation`).

In the controlled modes every loop the tests make is a `ControlledLoop`:

* the event loop policy's `new_event_loop()` (what `asyncio.run`, `asyncio.new_event_loop`
  and `IsolatedAsyncioTestCase` use);
* `asyncio.BaseEventLoop()` built directly (test_pep492);
* `test_utils.TestLoop(gen)`, the test suite's own virtual-time loop that most of
  test_futures and test_tasks run on (`self.new_test_loop()`): the controlled loop takes
  its place, and the time generator `gen` is ignored (the controlled loop jumps to the
  next deadline when nothing is ready, which is what those generators script);
* `asyncio.SelectorEventLoop(selector)` (test_events' `EventLoopTestsMixin` classes).

`fifo` always chooses option 0 (the stock order). `random` gives loop number n (counted
from 1 in creation order, over the whole module) `RandomStrategy(SEED)` started at run
index n: its choices come from `derive_seed(SEED, n)`, so a run is reproducible.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import traceback
import unittest

mode, module = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
created: list = []
#: Wall time the controlled loop waits for outside threads to go quiet before it gives up
#: (its default is 30 s; a thread it cannot see parked then costs this much per test).
SETTLE_S = float(os.environ.get("FIDELITY_SETTLE_S", "10"))
#: Wall time one test may take before SIGALRM raises `TestHung` in it (a busy loop that
#: never lets time pass, a settle that never ends): the test then errors, and the run goes on.
TEST_WALL_S = int(os.environ.get("FIDELITY_TEST_WALL_S", "120"))


class TestHung(Exception):
    pass


def _alarm(signum, frame):
    raise TestHung(f"test still running after {TEST_WALL_S} s wall time")


signal.signal(signal.SIGALRM, _alarm)

if mode != "stock":
    from simharness.engine.loop import ControlledLoop
    from simharness.engine.strategies import FifoStrategy, RandomStrategy

    def _strategy():
        if mode == "random":
            strategy = RandomStrategy(seed)
            strategy.begin_run(len(created) + 1)  # rng from derive_seed(seed, loop number)
            return strategy
        return FifoStrategy()

    class FidelityLoop(ControlledLoop):
        """A controlled loop that can stand where tests build a loop class directly."""

        def __init__(self, *args, **kwargs):  # TestLoop(gen), SelectorEventLoop(selector), BaseEventLoop()
            super().__init__(choose=_strategy().choose, max_steps=10**8, settle_timeout_s=SETTLE_S)
            created.append(self)

        def advance_time(self, advance):
            """test_utils.TestLoop's API ("Move test time forward"): moves the virtual clock."""
            if advance:
                self._set_clock(self._now + round(advance * 1_000_000_000))

    class ControlledPolicy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self):
            return FidelityLoop()

    class BaseLoopStandIn(FidelityLoop):
        """Stands for `asyncio.BaseEventLoop()` (test_pep492's BaseTest.setUp).

        That setUp gives the selector-less BaseEventLoop a mock selector and a mock
        `_process_events` so that it can run; the controlled loop has its own (they are
        what it controls: with a mock selector virtual time would never move), so those
        two assignments are ignored. Nothing else is.
        """

        def __setattr__(self, name, value):
            if name in ("_selector", "_process_events") and getattr(self, "_stand_in_ready", False):
                return
            super().__setattr__(name, value)

        def __init__(self, *args, **kwargs):
            super().__init__()
            loop = self

            def select(timeout=None):  # a function: `.select.return_value = ()` lands on it, harmlessly
                return loop._select(timeout)

            self._selector.select = select
            self._stand_in_ready = True

    asyncio.set_event_loop_policy(ControlledPolicy())
    asyncio.BaseEventLoop = BaseLoopStandIn
    asyncio.SelectorEventLoop = FidelityLoop
    import test.test_asyncio.utils as _utils

    if os.environ.get("FIDELITY_NO_CHILD_WATCHER") and hasattr(asyncio, "SafeChildWatcher"):
        # test_events' UnixEventLoopTestsMixin.setUp attaches a SafeChildWatcher, which
        # calls loop.add_signal_handler(SIGCHLD): refused, so every test of those classes
        # errors in setUp before its body runs. In this variant the watcher is built but
        # not attached (the controlled loop runs child processes through its own world,
        # never through a watcher), so each body meets the APIs it uses itself.
        class _UnattachedWatcher(asyncio.SafeChildWatcher):
            def attach_loop(self, loop):
                pass

        asyncio.SafeChildWatcher = _UnattachedWatcher

    _utils.TestLoop = FidelityLoop

suite = unittest.defaultTestLoader.loadTestsFromName("test.test_asyncio." + module)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class Collect(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.tests: dict[str, dict] = {}
        self._mark = 0

    def startTest(self, test):
        super().startTest(test)
        signal.alarm(TEST_WALL_S)
        self._mark = len(created)
        self.tests[test.id()] = {"outcome": "pass"}

    def _record(self, test, outcome, err=None):
        entry = self.tests.setdefault(test.id(), {})
        entry["outcome"] = outcome
        if err is not None:
            text = "".join(traceback.format_exception(*err)) if isinstance(err, tuple) else str(err)
            entry["error"] = _last_line(text)
            if "UnsupportedInSimulation" in text:
                entry.setdefault("refused", []).append(_last_line(text))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "fail", err)

    def addError(self, test, err):
        super().addError(test, err)
        # setUpClass/tearDownModule errors arrive as _ErrorHolder, not a test of ours
        self._record(test, "error", err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skip")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "xpass")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failure = issubclass(err[0], test.failureException)
            self._record(test, "fail" if failure else "error", err)

    def stopTest(self, test):
        signal.alarm(0)
        super().stopTest(test)
        if mode == "stock":
            return
        loops = created[self._mark:]
        entry = self.tests[test.id()]
        entry["loops"] = len(loops)
        entry["stepped"] = sum(1 for loop in loops if loop.steps > 0)
        entry["decisions"] = sum(len(loop.decisions) for loop in loops)
        refused = [str(loop.unsupported) for loop in loops if loop.unsupported is not None]
        if refused:
            entry.setdefault("refused", []).extend(refused)
        del created[self._mark:]  # keep the count only, not the loops
        created.extend([None] * len(loops))


def _interrupted(signum, frame):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _interrupted)  # SIGTERM: stop, and still report what ran
result = Collect()
interrupted = False
try:
    suite.run(result)
except KeyboardInterrupt:
    interrupted = True
    if result.tests:  # the test that was running has no outcome
        result.tests[next(reversed(result.tests))]["outcome"] = "interrupted"
print(json.dumps({"mode": mode, "seed": seed if mode == "random" else None, "module": module,
                  "loops": len(created), "run": result.testsRun, "interrupted": interrupted,
                  "tests": result.tests}))
