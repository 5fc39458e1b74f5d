"""Wall-clock functions that freezegun cannot patch.

freezegun replaces every module attribute that *is* a real clock function. These
are kept inside a namespace object, which it does not scan, so simharness's own
watchdogs and timings keep measuring real time while scenario code sees virtual time.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

_REAL = SimpleNamespace(monotonic=time.monotonic, perf_counter=time.perf_counter, time=time.time)


def monotonic() -> float:
    """Real monotonic seconds, even while the virtual clock is installed."""
    return _REAL.monotonic()  # type: ignore[no-any-return]


def perf_counter() -> float:
    """Real high-resolution seconds, even while the virtual clock is installed."""
    return _REAL.perf_counter()  # type: ignore[no-any-return]


def wall_time() -> float:
    """Real epoch seconds, even while the virtual clock is installed."""
    return _REAL.time()  # type: ignore[no-any-return]
