"""The shared controlled loop of tests whose event loop outlives them (see `pytest_scopes`).

`ScopedLoop` is a `ControlledLoop` deciding in the default order (asyncio's own), on
virtual time, that serves every test of one scope instance: pytest-asyncio's
`_<scope>_scoped_runner` (or anyio's kept runner) builds it through the plugin's loop
factory while a test planned for it (`select.SCOPED`) runs, and closes it at the scope's
end. `ItemScope` is one test's protocol as these loops see it: each run of the loop binds
to the run environment of the test in progress (virtual wall clock, watchdog, socket
gate), entered the first time the loop runs in that test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from simharness.engine.execution import RunEnvironment, RunSettings
from simharness.engine.loop import ControlledLoop
from simharness.engine.strategies import FifoStrategy
from simharness.integrations import pytest_select as select
from simharness.integrations.pytest_loop import DatetimeClasses, ScheduleRun, stuck_finding


class ItemScope:
    """One test's protocol as this module sees it: the scope it was planned for, the shared
    controlled loops that ran for it, and the run environment they use (entered on first need)."""

    current: ItemScope | None = None

    def __init__(self, item: pytest.Item, decided: str, scope: str, settings: RunSettings) -> None:
        self.item, self.decided, self.scope, self.settings = item, decided, scope, settings
        self.used: list[str] = []        # scopes of the ScopedLoops that ran for this test (setup, call)
        # The teardown of a test's scope runs in the last test's teardown (pytest's order): a loop
        # that runs only then ends a scope; the test itself did not run on it.
        self.tearing_down = False
        self.ended: list[str] = []
        self.failed = False
        self.called = False              # its call phase ran (it was not skipped or broken in set-up)
        self.unsupported = ""            # the first API simulation refused during this test
        self._environment: RunEnvironment | None = None
        self._stack = ExitStack()

    def environment(self) -> RunEnvironment:
        # Entered only when a shared loop runs, and kept for the rest of the test: the clock's
        # start-up (freezegun scans every module) is paid once per test, not once per loop run.
        if self._environment is None:
            self._environment = self._stack.enter_context(RunEnvironment(self.settings))
            DatetimeClasses.hide()
        return self._environment

    def close(self) -> None:
        self._stack.close()


#: Environments entered for a loop that runs outside every test (closed at the session's end).
_FALLBACK: list[RunEnvironment] = []


@contextmanager
def _somewhere_to_run() -> Iterator[RunEnvironment]:
    """The run environment a shared loop uses now: the schedule's, the test's, or a fresh one."""
    if ScheduleRun.current is not None:  # an explored test's teardown ends a wider scope
        yield ScheduleRun.current.environment
    elif ItemScope.current is not None:
        yield ItemScope.current.environment()
    elif _FALLBACK:
        yield _FALLBACK[-1]
    else:
        with RunEnvironment(RunSettings()) as environment:
            DatetimeClasses.hide()
            _FALLBACK.append(environment)
            try:
                yield environment
            finally:
                _FALLBACK.pop()


class ScopedLoop(ControlledLoop):
    """A controlled loop shared by the tests of one scope: default order, virtual time, no
    exploration. Every run (`run_until_complete` of a fixture or a test) binds it to the
    environment of the test in progress, with a fresh step and virtual-time budget."""

    #: Shared loops not closed yet (the session's end closes what a runner left open).
    unclosed: list[ScopedLoop] = []

    def __init__(self, scope: str) -> None:
        settings = RunSettings()
        super().__init__(choose=FifoStrategy().choose, settle_timeout_s=settings.settle_timeout_s)
        self.scope = scope
        self._budget_steps = settings.max_steps
        self._budget_ns = round(settings.max_time_s * 1e9)
        self._environment: RunEnvironment | None = None
        self._finished = False
        self._threads_between_runs = _live_threads()
        ScopedLoop.unclosed.append(self)

    def run_forever(self) -> None:
        with _somewhere_to_run() as environment:
            self._bind(environment)
            try:
                super().run_forever()
            except BaseException:
                self._drop_stale_stops()
                raise
            finally:
                self._unbind(environment)

    def _drop_stale_stops(self) -> None:
        # A run ended by a finding (a blocked loop) after the test's task finished leaves the
        # stop that `run_until_complete` asked for in the ready queue; on a loop that serves
        # the next test too it would stop that test's run before its task completes.
        for handle in self._ready:  # type: ignore[attr-defined]
            if getattr(handle._callback, "__name__", "") == "_run_until_complete_cb":
                handle.cancel()

    def _bind(self, environment: RunEnvironment) -> None:
        # The loop reads its watchdog, clock hook and budgets on every step: they are the
        # current test's (each test enters its own environment), and the budgets restart
        # from where this long-lived loop is now.
        self._environment = environment
        self._watchdog = environment.watchdog
        self._on_clock = environment.clock.set
        self._max_steps = self.steps + self._budget_steps
        self._max_time_ns = self._now + self._budget_ns
        self.abort = self.unsupported = None  # both are one run's: a test before this one set them
        # Threads started since the last run (a sync fixture's server thread) are not this loop's
        # work: waiting for them to park would wait for ever, and a loop made now would not.
        self._threads.adopt(_live_threads() - self._threads_between_runs)
        self._task_refs = [ref for ref in self._task_refs if ref() is not None]  # finished tests' tasks
        environment.clock.set(self._now)
        ControlledLoop.active = self
        environment.clock.scenario_thread = threading.get_ident()
        environment.watchdog.on_stuck = self._stuck
        DatetimeClasses.show()
        state = ItemScope.current
        if state is not None:
            used = state.ended if state.tearing_down else state.used
            if self.scope not in used:
                used.append(self.scope)

    def _unbind(self, environment: RunEnvironment) -> None:
        self._threads_between_runs = _live_threads()
        DatetimeClasses.hide()
        environment.watchdog.on_stuck = None
        environment.watchdog.rearm()
        environment.clock.scenario_thread = None
        ControlledLoop.active = None
        state = ItemScope.current
        if state is not None and self.unsupported is not None and not state.unsupported:
            state.unsupported = self.unsupported.api

    def _stuck(self, kind: str, detail: str) -> None:
        limit = self._environment.settings.blocked_loop_s if self._environment is not None else 0.0
        self.abort = stuck_finding(kind, detail, limit)

    def close(self) -> None:
        """Cancel and drain what the scope left (its fixtures' tasks, servers), then close (once)."""
        if self._finished:
            return
        self._finished = True
        if self in ScopedLoop.unclosed:
            ScopedLoop.unclosed.remove(self)
        with _somewhere_to_run():
            try:
                if not self.is_closed() and not self.is_running():
                    self.drain()
            except Exception:  # noqa: BLE001 - the scope's tests have their verdicts; clean-up must not mask them
                pass
            finally:
                super().close()


def _live_threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def scoped_loop() -> ScopedLoop | None:
    """The loop the plugin's factory makes outside a schedule: a shared controlled one while a
    test planned for a wider-scoped loop runs (its runners are being built), else None (stock)."""
    state = ItemScope.current
    if state is None or state.decided != select.SCOPED:
        return None
    return ScopedLoop(state.scope)
