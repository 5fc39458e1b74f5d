"""The virtual wall clock: `time.time()`, `time.monotonic()` and `datetime.now()` in simulation.

The loop's own clock (`loop.time()`) is virtual by construction. Code under test
that reads the wall-clock functions is moved onto the same clock with freezegun,
started once per exploration (its start-up scans every loaded module, so starting
it per schedule would dominate exploration time) and moved by the loop whenever
virtual time advances. Every run starts at `EPOCH`.

Only scenario code sees virtual time: the patched functions answer with the real
clock in every thread but the loop's, and in the loop's thread between runs, so a
caller's own timing (a progress callback, a helper thread waiting with a timeout)
stays real. That gate is freezegun's `api._should_use_real_time` (the one function
its fakes all consult), wrapped while the clock is installed.

While installed, `threading.Condition.wait` (under `Event.wait`, `queue.Queue.get`, ...)
and `time.sleep` are wrapped too: when a timed wait expires or a sleep ends on the
scenario thread, the loop's clock moves on by its duration (`ControlledLoop.blocked_for`),
as the stock loop's clock would have; when another thread sleeps, that thread's own
virtual time moves on, so what it posts next completes no earlier
(`ControlledLoop.thread_waited`).
Code that bound `sleep` before the clock was installed (`from time import sleep` at
import) calls the original, which takes no virtual time.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from typing import Any

import freezegun.api as _freezegun_api
from freezegun import freeze_time

#: Virtual time zero, as the wall clock shows it to scenario code.
EPOCH = _dt.datetime(2026, 1, 1, 0, 0, 0)


class VirtualWallClock:
    """A context manager that freezes wall-clock functions and moves them with the loop."""

    def __init__(self) -> None:
        self._freezer: Any = None
        self._factory: Any = None
        self._original_gate: Any = None
        self._original_wait: Any = None
        self._original_sleep: Any = None
        #: The thread whose scenario code sees virtual time (None: nobody, between runs).
        self.scenario_thread: int | None = None

    def __enter__(self) -> VirtualWallClock:
        self._freezer = freeze_time(EPOCH)
        self._factory = self._freezer.start()
        original = self._original_gate = _freezegun_api._should_use_real_time
        get_ident = threading.get_ident

        def real_time_outside_the_scenario() -> bool:
            if get_ident() != self.scenario_thread:
                return True
            return original()  # type: ignore[no-any-return]

        _freezegun_api._should_use_real_time = real_time_outside_the_scenario
        self._original_wait = original_wait = threading.Condition.wait

        from simharness.engine.loop import ControlledLoop  # the engine's own module

        def wait(condition: threading.Condition, timeout: float | None = None) -> bool:
            # A timed wait that expires on the loop's thread blocked the loop that long: on
            # the stock loop its clock moved on, so code that computes a deadline from
            # time.monotonic() and waits in a loop (janus's sync queue, queue.get) sees it
            # pass. Without this its deadline never came: a false blocked-loop.
            # Not in other threads: one parked in a timed wait does not hold the loop up,
            # so how often its wait expires depends on the machine's speed.
            notified = original_wait(condition, timeout)
            if not notified and timeout is not None and get_ident() == self.scenario_thread:
                loop = ControlledLoop.active
                if loop is not None:
                    loop.blocked_for(timeout)
            return notified

        self._original_sleep = original_sleep = time.sleep

        def sleep(seconds: float) -> None:
            # A sleeping thread is busy, so the loop waits for it before it decides anything:
            # its sleeps are the same in every run, and each moves its virtual time on.
            original_sleep(seconds)
            loop = ControlledLoop.active
            if loop is None:
                return
            if get_ident() == self.scenario_thread:
                loop.blocked_for(seconds)
            else:
                loop.thread_waited(seconds)

        threading.Condition.wait = wait  # type: ignore[method-assign]
        time.sleep = sleep
        return self

    def __exit__(self, *exc: object) -> None:
        if self._original_sleep is not None:
            time.sleep = self._original_sleep
            self._original_sleep = None
        if self._original_wait is not None:
            threading.Condition.wait = self._original_wait  # type: ignore[method-assign]
            self._original_wait = None
        if self._original_gate is not None:
            _freezegun_api._should_use_real_time = self._original_gate
            self._original_gate = None
        if self._freezer is not None:
            self._freezer.stop()
            self._freezer = self._factory = None

    def set(self, now_ns: int) -> None:
        """Show `now_ns` nanoseconds after EPOCH to the wall-clock functions."""
        if self._factory is not None:
            self._factory.time_to_freeze = EPOCH + _dt.timedelta(microseconds=now_ns // 1000)
