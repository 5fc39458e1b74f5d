"""One schedule of a pytest item: the controlled loop its event-loop factory hands out.

pytest-asyncio (1.4+) asks `pytest_asyncio_loop_factories(config, item)` for the
event-loop factories of each test; the plugin answers with `loop_factory`, which
builds a `ControlledLoop` deciding with the strategy of the schedule in progress
(`ScheduleRun.current`) and a stock loop otherwise. So the test, its async fixtures
and their teardown all run on one controlled loop per schedule, while pytest (and
pytest-asyncio) drive setup, call and teardown exactly as usual.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import traceback
from contextlib import ExitStack
from typing import Any

import freezegun.api

from simharness.engine.execution import RunEnvironment, exception_frames
from simharness.engine.loop import ControlledLoop, RunAborted
from simharness.engine.strategies.base import Strategy
from simharness.engine.trace import DetailedTrace, TraceHasher
from simharness.engine.watchdog import LoopInterrupted
from simharness.errors import ScheduleDivergence
from simharness.integrations.pytest_anyio import anyio_loop_factory
from simharness.outcome import Failure


class ScheduleRun:
    """The schedule in progress: its strategy, its loop, and what each phase raised."""

    current: ScheduleRun | None = None

    def __init__(self, environment: RunEnvironment, strategy: Strategy | None, *, detail: bool = False) -> None:
        self.environment = environment
        self.strategy = strategy  # None: the stock loop (an unexplored run)
        self.observer: TraceHasher = DetailedTrace() if detail else TraceHasher()
        self.loops: list[PytestLoop] = []
        self.raised: list[tuple[str, BaseException]] = []
        self._patches = ExitStack()

    def __enter__(self) -> ScheduleRun:
        ScheduleRun.current = self
        DatetimeClasses.hide()  # the virtual clock is on: pytest's code between runs sees the real classes
        if self.strategy is not None:
            self._patches.enter_context(anyio_loop_factory(loop_factory))  # anyio's runner: our loop too
        return self

    def __exit__(self, *exc: object) -> None:
        ScheduleRun.current = None
        self._patches.close()
        for loop in self.loops:
            loop.finish()

    @property
    def loop(self) -> PytestLoop | None:
        return self.loops[0] if self.loops else None

    def new_loop(self) -> PytestLoop:
        assert self.strategy is not None
        settings = self.environment.settings
        loop = PytestLoop(
            self, choose=self.strategy.choose, preemptive=settings.preemptive, max_steps=settings.max_steps,
            max_time_ns=round(settings.max_time_s * 1e9), settle_timeout_s=settings.settle_timeout_s,
            observer=self.observer, watchdog=self.environment.watchdog, on_clock=self.environment.clock.set,
        )
        self.environment.clock.set(0)
        self.loops.append(loop)
        return loop

    def failure(self, reports: list[Any]) -> Failure | None:
        """The run's failure, from pytest's reports and what the phases raised."""
        failed = [r for r in reports if r.outcome == "failed"]
        if not failed:
            return None
        when = failed[0].when
        error = next((e for w, e in self.raised if w == when), None)
        loop = self.loop
        if isinstance(error, ScheduleDivergence):
            raise error
        if isinstance(error, RunAborted):
            return Failure(error.kind, error.message)  # type: ignore[arg-type]
        if isinstance(error, LoopInterrupted) or (loop is not None and loop.abort is not None):
            kind, message = (loop.abort if loop is not None and loop.abort else ("blocked-loop", "event loop blocked"))
            return Failure(kind, message)  # type: ignore[arg-type]
        if error is None:
            return Failure("exception", f"{when} failed: {str(failed[0].longrepr).splitlines()[-1:]}")
        kind = "assertion" if isinstance(error, AssertionError) else "exception"
        phase = "" if when == "call" else f" (in {when})"
        return Failure(kind, describe(error) + phase, frames=exception_frames(error))  # type: ignore[arg-type]

    def skipped(self, reports: list[Any]) -> bool:
        return any(r.outcome == "skipped" and not hasattr(r, "wasxfail") for r in reports)


def describe(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = str(error).split("\n")[0]
    return f"{type(error).__name__}: {text}{where}" if text else f"{type(error).__name__}{where}"


class DatetimeClasses:
    """The `datetime` module's `datetime` and `date` classes: freezegun's while a schedule's loop
    runs, the real ones between runs (pytest's own code, wider-scoped sync fixtures).

    A library that looks the class up once and keeps it (cryptography's X.509 builder, on
    first use) would otherwise keep freezegun's class after the exploration and refuse
    real datetimes ("'datetime' object is not an instance of 'FakeDatetime'"): aiosmtplib's
    session-scoped certificate fixtures, set up between runs, all failed. Between runs the
    virtual clock answers with real time anyway, so only the class identity changes.
    """

    _fake: tuple[Any, Any] | None = None

    @classmethod
    def hide(cls) -> None:
        # Only while the virtual clock is the one freezer: a test's own freeze_time keeps its classes.
        if len(freezegun.api.freeze_factories) == 1 and datetime.datetime is not freezegun.api.real_datetime:
            cls._fake = (datetime.datetime, datetime.date)
            datetime.datetime, datetime.date = freezegun.api.real_datetime, freezegun.api.real_date  # type: ignore[misc]

    @classmethod
    def show(cls) -> None:
        fake, cls._fake = cls._fake, None
        if fake is not None and freezegun.api.freeze_factories:  # still frozen: the exploration goes on
            datetime.datetime, datetime.date = fake  # type: ignore[misc]


class PytestLoop(ControlledLoop):
    """A controlled loop driven by pytest-asyncio's runner (many `run_until_complete` calls).

    While it runs, its thread sees virtual wall-clock time and the watchdog watches it;
    between runs (pytest's own code, sync fixtures) time is real. `close()` first cancels
    and drains what the test left, as `Execution` does after a run.
    """

    def __init__(self, run: ScheduleRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._run = run
        self._depth = 0
        self._finished = False

    def run_forever(self) -> None:
        environment = self._run.environment
        outer = self._depth == 0
        self._depth += 1
        if outer:
            ControlledLoop.active = self
            environment.clock.scenario_thread = threading.get_ident()
            environment.watchdog.on_stuck = self._stuck
            DatetimeClasses.show()
        try:
            super().run_forever()
        finally:
            self._depth -= 1
            if outer:
                DatetimeClasses.hide()
                environment.watchdog.on_stuck = None
                environment.watchdog.rearm()
                environment.clock.scenario_thread = None
                ControlledLoop.active = None

    def _stuck(self, kind: str, detail: str) -> None:
        self.abort = stuck_finding(kind, detail, self._run.environment.settings.blocked_loop_s)

    def close(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Cancel and drain what is left, then close (once)."""
        if self._finished:
            return
        self._finished = True
        try:
            if not self.is_closed() and not self.is_running():
                self.drain()
        except Exception:  # noqa: BLE001 - clean-up of a finished run must not mask its verdict
            pass
        finally:
            super().close()


def stuck_finding(kind: str, detail: str, limit_s: float) -> tuple[str, str]:
    """The finding (kind, message) that ends a run whose step the watchdog caught stuck."""
    blocking, _, where = detail.partition("|")
    what = (f"event loop blocked by a {blocking}" if kind == "blocked-loop"
            else "a step ran without returning to the loop")
    return kind, f"{what} for over {limit_s:g} s at {where}"


class NotOnOurLoop(Exception):
    """The test ran on a loop the plugin did not make (the project's own loop factory)."""


class WallClockConflict(Exception):
    """The test starts time-machine, which refuses to run while freezegun (the virtual wall clock) is on."""


#: What time-machine says when it meets freezegun: the test is explored again without the wall clock.
TIME_MACHINE_REFUSAL = "time-machine cannot start when freezegun is active"


class RealWallClock:
    """Stands in for `VirtualWallClock` when a test manages the wall clock itself (time-machine):
    `loop.time()` stays virtual, `time.time()` is the test's own."""

    scenario_thread: int | None = None

    def __enter__(self) -> RealWallClock:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def set(self, now_ns: int) -> None:
        pass


def loop_factory() -> asyncio.AbstractEventLoop:
    """The event-loop factory the plugin gives pytest-asyncio (and plain async tests)."""
    run = ScheduleRun.current
    if run is None:
        # Outside a schedule: a test on a loop wider than the function gets a shared controlled
        # loop (pytest_shared_loop, which imports this module), any other test the stock loop.
        from simharness.integrations.pytest_shared_loop import scoped_loop
        shared = scoped_loop()
        return shared if shared is not None else asyncio.get_event_loop_policy().new_event_loop()
    if run.strategy is None or run.loops:
        # Unexplored, or a second loop in one schedule (another loop scope): stock.
        return asyncio.get_event_loop_policy().new_event_loop()
    return run.new_loop()
