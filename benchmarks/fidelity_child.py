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
  its place and follows the time generator `gen` as TestLoop does (after each iteration
  every new deadline is sent to `gen`, which asserts on it, and the clock moves by what
  it yields);
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
_real_signal, _real_getsignal = signal.signal, signal.getsignal


def _guarded_signal(signum, handler):
    """`signal.signal`, except that SIGALRM is never left at its default (which ends the
    process): test_events' signal tests set a real interval timer and remove their
    handler afterwards, and a test that fails (in either mode) may take the alarm after
    that. The harness's own alarm handler stays in place instead (the next test's
    `alarm()` cancels the stray timer); getsignal still answers SIG_DFL."""
    if signum == signal.SIGALRM and handler == signal.SIG_DFL:
        previous = _real_signal(signum, _alarm)
        return signal.SIG_DFL if previous is _alarm else previous
    previous = _real_signal(signum, handler)
    return signal.SIG_DFL if signum == signal.SIGALRM and previous is _alarm else previous


def _guarded_getsignal(signum):
    handler = _real_getsignal(signum)
    return signal.SIG_DFL if signum == signal.SIGALRM and handler is _alarm else handler


signal.signal, signal.getsignal = _guarded_signal, _guarded_getsignal

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

    class TestLoopStandIn(FidelityLoop):
        """Stands for `test_utils.TestLoop(gen)`, with its scripted clock.

        TestLoop's generator is the test's script of time: after each iteration, for every
        deadline registered in it, TestLoop sends the deadline to `gen` (which asserts on
        it) and moves its clock by what `gen` yields. The stand-in does the same on top of
        the controlled loop's own clock (which only jumps when nothing is ready, to a
        deadline the script has not reached), and, as TestLoop, checks on close that the
        script ran to its end.
        """

        def __init__(self, gen=None):
            super().__init__()
            self._check_on_close = gen is not None
            if gen is None:
                def gen():
                    yield
            self._gen = gen()
            next(self._gen)
            self._timers_this_round = []

        def call_at(self, when, callback, *args, context=None):
            if hasattr(self, "_timers_this_round"):
                self._timers_this_round.append(when)
            return super().call_at(when, callback, *args, context=context)

        def _run_once(self):
            super()._run_once()
            for when in self._timers_this_round:
                self.advance_time(self._gen.send(when))
            self._timers_this_round = []

        def close(self):
            super().close()
            if self._check_on_close:
                try:
                    self._gen.send(0)
                except StopIteration:
                    pass
                else:
                    raise AssertionError("Time generator is not finished")

    _utils.TestLoop = TestLoopStandIn

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
        # Re-installed per test: test_events' signal tests leave SIGALRM at its default
        # (remove_signal_handler restores SIG_DFL), which would kill this process.
        signal.signal(signal.SIGALRM, _alarm)
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


def main() -> None:
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


# Guarded: multiprocessing's forkserver (test_get_event_loop_new_process) preloads the main
# module, and without the guard it ran the whole module's tests again inside the
# forkserver, which then never served the test's worker: a hang.
if __name__ == "__main__":
    main()
