"""The virtual wall clock: `time.time()`, `time.monotonic()` and `datetime.now()` in simulation.

The loop's own clock (`loop.time()`) is virtual by construction. Code under test
that reads the wall-clock functions is moved onto the same clock with freezegun,
started once per exploration (its start-up scans every loaded module, so starting
it per schedule would dominate exploration time) and moved by the loop whenever
virtual time advances. Every run starts at `EPOCH`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from freezegun import freeze_time

#: Virtual time zero, as the wall clock shows it to scenario code.
EPOCH = _dt.datetime(2026, 1, 1, 0, 0, 0)


class VirtualWallClock:
    """A context manager that freezes wall-clock functions and moves them with the loop."""

    def __init__(self) -> None:
        self._freezer: Any = None
        self._factory: Any = None

    def __enter__(self) -> VirtualWallClock:
        self._freezer = freeze_time(EPOCH)
        self._factory = self._freezer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._freezer is not None:
            self._freezer.stop()
            self._freezer = self._factory = None

    def set(self, now_ns: int) -> None:
        """Show `now_ns` nanoseconds after EPOCH to the wall-clock functions."""
        if self._factory is not None:
            self._factory.time_to_freeze = EPOCH + _dt.timedelta(microseconds=now_ns // 1000)
