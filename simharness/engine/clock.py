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
is wrapped too: when a timed wait expires on the scenario thread, the loop's clock moves
on by its timeout (`ControlledLoop.blocked_for`), as the stock loop's clock would have.
"""

from __future__ import annotations

import datetime as _dt
import threading
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

        def wait(condition: threading.Condition, timeout: float | None = None) -> bool:
            # A timed wait that expires on the loop's thread blocked the loop that long: on
            # the stock loop its clock moved on, so code that computes a deadline from
            # time.monotonic() and waits in a loop (janus's sync queue, queue.get) sees it
            # pass. Without this its deadline never came: a false blocked-loop.
            notified = original_wait(condition, timeout)
            if not notified and timeout is not None and get_ident() == self.scenario_thread:
                from simharness.engine.loop import ControlledLoop  # the engine's own module
                loop = ControlledLoop.active
                if loop is not None:
                    loop.blocked_for(timeout)
            return notified

        threading.Condition.wait = wait  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
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
