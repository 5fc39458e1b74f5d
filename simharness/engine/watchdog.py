"""The blocked-loop watchdog: notices a step that never returns and interrupts it.

A step that blocks the loop thread in a synchronous wait (a `threading.Lock` held by
a suspended coroutine, `time.sleep`, a blocking socket) would hang a real program.
A daemon thread checks, while a step runs, whether the loop has advanced; after
`threshold_s` of wall time without progress it records a failure and delivers a
signal to the main thread, whose handler raises `LoopInterrupted` out of the blocking
call (POSIX lock waits are interruptible). A thread state of "sleeping" in
/proc means a synchronous wait (`blocked-loop`); a running thread is a step that
computes forever (`timeout`).
"""

from __future__ import annotations

import linecache
import signal
import sys
import threading
from collections.abc import Callable

from simharness.engine.realtime import monotonic as _real_monotonic
_SIGNAL = signal.SIGUSR2


class LoopInterrupted(BaseException):
    """Raised inside a step the watchdog gave up on (a BaseException so `except Exception` cannot swallow it)."""


def thread_state(native_id: int | None) -> str:
    """The kernel's state letter of a thread of this process (R, S, D...), or "?"."""
    if native_id is None:
        return "?"
    try:
        with open(f"/proc/self/task/{native_id}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def blocking_call(native_id: int | None) -> str:
    """What the kernel says the thread sleeps in: a lock (futex), a sleep, or another wait."""
    try:
        with open(f"/proc/self/task/{native_id}/wchan", encoding="ascii") as wchan:
            channel = wchan.read().strip()
    except (OSError, TypeError):
        channel = ""
    if "futex" in channel:
        return "synchronous lock"
    if "sleep" in channel:
        return "synchronous sleep"
    return "synchronous wait"


def _where(frame: object) -> str:
    code = frame.f_code  # type: ignore[attr-defined]
    line = frame.f_lineno  # type: ignore[attr-defined]
    text = linecache.getline(code.co_filename, line).strip()
    return f"{code.co_filename}:{line} in {code.co_name}: {text}"


class Watchdog:
    """Watches the loop thread while steps run; one per exploration, shared by its runs."""

    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        # Called with (kind, where) when a step is stuck; the run being watched sets it.
        self.on_stuck: Callable[[str, str], None] | None = None
        self.epoch = 0  # bumped by the loop before every step
        self.in_step = False
        self._thread = threading.current_thread()
        self._stop = threading.Event()
        self._fired = False
        self._previous_handler: object = None
        self._can_signal = self._thread is threading.main_thread()
        self._watcher = threading.Thread(target=self._watch, name="simharness-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        if self._can_signal:
            self._previous_handler = signal.signal(_SIGNAL, self._handle_signal)
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watcher.join()
        if self._can_signal:
            signal.signal(_SIGNAL, self._previous_handler)  # type: ignore[arg-type]

    def _handle_signal(self, signum: int, frame: object) -> None:
        if self._fired:
            self._fired = False
            raise LoopInterrupted("interrupted by the simharness watchdog")

    def rearm(self) -> None:
        """Watch again after a stuck step was reported (the next run may block too)."""
        if not self._watcher.is_alive() and not self._stop.is_set():
            self._watcher = threading.Thread(target=self._watch, name="simharness-watchdog", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        seen_epoch, since = -1, _real_monotonic()
        while not self._stop.wait(min(0.05, self.threshold_s / 4)):
            epoch = self.epoch
            now = _real_monotonic()
            if epoch != seen_epoch or not self.in_step:
                seen_epoch, since = epoch, now
                continue
            if now - since < self.threshold_s:
                continue
            frame = sys._current_frames().get(self._thread.ident or -1)
            where = _where(frame) if frame is not None else "unknown place"
            state = thread_state(self._thread.native_id)
            kind = "timeout" if state == "R" else "blocked-loop"
            self._fired = True
            if self.on_stuck is not None:
                what = blocking_call(self._thread.native_id) if kind == "blocked-loop" else ""
                self.on_stuck(kind, f"{what}|{where}")
            if self._can_signal:
                signal.pthread_kill(self._thread.ident or 0, _SIGNAL)
            return
