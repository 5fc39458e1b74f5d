"""The blocked-loop watchdog for a real event loop (stock asyncio or uvloop).

A heartbeat callback re-arms itself on the loop every `_BEAT_S`; a daemon thread
checks the beat. When the beat is older than the threshold *and* the loop thread is
sleeping in the kernel (state S or D in /proc), a callback is stuck in a synchronous
wait (a `threading.Lock`, `time.sleep`, a blocking socket): that is `blocked-loop`.
A loop thread that is running (state R) is computing, not blocked: the supervisor's
--timeout deals with that. The watchdog first interrupts the wait with a signal
whose handler raises `LoopInterrupted` in the loop thread (POSIX lock waits are
interruptible); if the run has still not ended `give_up_s` later (uvloop swallows
BaseExceptions in callbacks, C code may not return), it calls `on_give_up`, which
reports the run and ends the worker process.
"""

from __future__ import annotations

import asyncio
import linecache
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from simharness.engine.realtime import monotonic
from simharness.engine.watchdog import LoopInterrupted, blocking_call, thread_state

_BEAT_S = 0.05
_SIGNAL = signal.SIGUSR2


def _where(frame: FrameType | None) -> str:
    if frame is None:
        return "an unknown place"
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}: {line}"


class LoopWatch:
    """Watches one real loop at a time from a daemon thread (create in the main thread)."""

    def __init__(self, on_give_up: Callable[[str], None], give_up_s: float = 2.0) -> None:
        self.on_give_up = on_give_up
        self.give_up_s = give_up_s
        self.fired: str | None = None  # the blocked-loop message once the watchdog fired
        self._main = threading.main_thread()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threshold_s = 2.0
        self._beat = monotonic()
        self._lock = threading.Lock()
        self._interrupts = 0  # signals the loop thread acted on: it is responsive
        signal.signal(_SIGNAL, self._handle_signal)
        self._thread = threading.Thread(target=self._watch, name="simharness-loopwatch", daemon=True)
        self._thread.start()

    def attach(self, loop: asyncio.AbstractEventLoop, threshold_s: float) -> None:
        """Start watching `loop` (before running it)."""
        with self._lock:
            self.fired = None
            self._threshold_s = threshold_s
            self._beat = monotonic()
            self._loop = loop
        loop.call_soon(self._tick, loop)

    def detach(self) -> None:
        """Stop watching (after the loop stopped running)."""
        with self._lock:
            self._loop = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            self._beat = monotonic()
            loop.call_later(_BEAT_S, self._tick, loop)

    def _handle_signal(self, signum: int, frame: object) -> None:
        if self.fired is not None and self._loop is not None:
            self._interrupts += 1
            raise LoopInterrupted(self.fired)

    def _watch(self) -> None:
        signalled_at: float | None = None  # when we last interrupted the loop thread
        signalled_mark = (0.0, 0)
        while True:
            threading.Event().wait(_BEAT_S)
            with self._lock:
                loop, threshold, beat = self._loop, self._threshold_s, self._beat
            now = monotonic()
            if loop is None:
                signalled_at = None
                continue
            mark = (beat, self._interrupts)
            if signalled_at is not None:
                if mark == signalled_mark and now - signalled_at > self.give_up_s:
                    self.on_give_up(self.fired or "event loop blocked")
                    signalled_at = None
                if mark == signalled_mark:
                    continue
                signalled_at = None  # the loop moved on; it may block again (another copy)
            if now - beat < threshold or thread_state(self._main.native_id) not in ("S", "D"):
                continue
            if self.fired is None:
                where = _where(sys._current_frames().get(self._main.ident or -1))
                what = blocking_call(self._main.native_id)
                self.fired = (f"event loop blocked by a {what} for over {threshold:g} s at {where}")
            signalled_at, signalled_mark = now, mark
            signal.pthread_kill(self._main.ident or 0, _SIGNAL)
