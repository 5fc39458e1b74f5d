"""Quiescence of threads the controlled loop does not run itself.

Thread work (executor items, aiosqlite's worker, any thread a scenario starts) must
be finished or parked before the loop decides anything, so that what has arrived
from threads at each decision does not depend on the operating system's timing.

A thread is *parked* when its innermost Python frame is `threading.Condition.wait`
and its waiter lock is still registered with the condition (nobody notified it).
Every blocking primitive of `threading` and `queue` waits there, so an idle worker
blocked in `queue.get()` or a thread waiting on an `Event` counts as parked.
"""

from __future__ import annotations

import concurrent.futures.thread
import os
import selectors
import sys
import threading
import time
from dataclasses import dataclass

_CONDITION_WAIT = threading.Condition.wait.__code__
_POOL_WORKER_FUNCTION = getattr(concurrent.futures.thread, "_worker", None)
_POOL_WORKER = getattr(_POOL_WORKER_FUNCTION, "__code__", None)
# 3.13+: an idle worker releases a token of the pool's idle semaphore before it blocks,
# and `SimpleQueue.put` hands an item straight to a blocked getter, so the queue looks
# empty while the item is on its way: only the token count tells the two apart.
_WORKER_HOLDS_IDLE_TOKEN = _POOL_WORKER is not None and "get_nowait" in _POOL_WORKER.co_names
from simharness.engine.realtime import monotonic as _real_monotonic

# threading's registries of running threads (ident -> Thread) and of threads being
# started; read-only here. Absent in some future version: then enumerate() is used.
_ACTIVE: dict[int, threading.Thread] | None = getattr(threading, "_active", None)
_LIMBO: dict[threading.Thread, threading.Thread] = getattr(threading, "_limbo", {})


def is_parked(frame: object) -> bool:
    """True when `frame` (a thread's innermost frame) is blocked in an un-notified wait,
    or is an idle `ThreadPoolExecutor` worker (it waits in C, in `SimpleQueue.get`)."""
    code = getattr(frame, "f_code", None)
    if code is _POOL_WORKER:
        # The worker's own frame is innermost only between work items (the last item's
        # result was posted before it got here). It is idle when it holds no item and
        # none is queued: blocked in `work_queue.get()`, in C.
        local_vars = frame.f_locals  # type: ignore[attr-defined]
        queue = local_vars.get("work_queue")
        return "work_item" not in local_vars and queue is not None and queue.empty()
    if code is not _CONDITION_WAIT:
        return False
    local_vars = frame.f_locals  # type: ignore[attr-defined]
    waiter = local_vars.get("waiter")
    condition = local_vars.get("self")
    if waiter is None or condition is None:
        return False
    waiters = getattr(condition, "_waiters", ())
    return waiter in waiters


def _is_pool_worker(thread: threading.Thread) -> bool:
    """A `ThreadPoolExecutor` worker (its target until it ends: `Thread.run` deletes it then)."""
    return _POOL_WORKER_FUNCTION is not None and getattr(thread, "_target", None) is _POOL_WORKER_FUNCTION


@dataclass(frozen=True)
class BusyThread:
    """A thread still doing work, with where it is (for error messages)."""

    name: str
    where: str
    native_id: int | None = None


def _is_socket(descriptor: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}").startswith("socket:")
    except OSError:
        return False


def real_socket_wait(native_id: int | None) -> int | None:
    """The descriptor of the real socket a thread of this process waits on, or None.

    Two waits are recognised (Linux, from /proc): a system call whose first argument is
    a socket (accept, connect, recv, send); and a `selectors` selector's `select()` (a
    `socketserver` loop, a stock event loop in a thread) with a socket registered.
    """
    if native_id is None:
        return None
    try:
        with open(f"/proc/self/task/{native_id}/syscall", encoding="ascii") as syscall:
            fields = syscall.read().split()
    except OSError:
        return None
    if len(fields) < 2 or not fields[0].isdigit():
        return None  # running, or not in a system call
    try:
        descriptor = int(fields[1], 16)
    except ValueError:
        return None
    if _is_socket(descriptor):
        return descriptor
    thread = next((t for t in threading.enumerate() if t.native_id == native_id), None)
    frame = sys._current_frames().get(thread.ident or -1) if thread is not None else None
    selector = frame.f_locals.get("self") if frame is not None and frame.f_code.co_name == "select" else None
    if isinstance(selector, selectors.BaseSelector):
        try:
            descriptors = [key.fd for key in list(selector.get_map().values())]
        except (RuntimeError, ValueError, AttributeError):
            return None
        return next((d for d in descriptors if _is_socket(d)), None)
    return None


class ThreadWatch:
    """Knows which threads appeared since a run began and whether they are all quiet."""

    def __init__(self) -> None:
        # Threads older than the run are not waited for, except idle thread-pool workers: a
        # pool made before the run (a module-level executor, asgiref's single-thread executor
        # made by an earlier test) runs the run's work on them, and its result is an outside
        # event. A worker still busy with older work (stuck in an earlier test) stays ignored.
        frames = sys._current_frames()
        # Thread objects, not idents: the ident of a thread that exits is reused by the
        # next thread started, and a new pool worker taken for an old one was not waited
        # for (a false deadlock).
        self._baseline: dict[int, threading.Thread] = {
            t.ident: t for t in threading.enumerate()
            if t.ident is not None and not (_is_pool_worker(t) and is_parked(frames.get(t.ident)))}

    def adopt(self, threads: set[threading.Thread]) -> None:
        """Count these threads as older than the run: a loop that outlives many runs (a shared
        loop of pytest's wider scopes) adopts the threads started between its runs, by code that
        is not its own (a sync fixture's server thread), as a new loop made then would."""
        self._baseline.update((t.ident, t) for t in threads if t.ident is not None)

    def _is_old(self, thread: threading.Thread) -> bool:
        return self._baseline.get(thread.ident or -1) is thread

    def may_be_busy(self) -> bool:
        """Cheap check: could any thread started during the run still be working?

        Compares identities, not counts (an old thread exiting while a new one starts
        keeps the count), against threading's registries of running and starting
        threads: a few microseconds for the handful of threads a process has.
        """
        if _ACTIVE is None:
            return not all(self._is_old(t) for t in threading.enumerate())
        if _LIMBO:
            return True
        baseline = self._baseline
        return any(baseline.get(ident) is not thread for ident, thread in list(_ACTIVE.items()))

    def busy_threads(self) -> list[BusyThread]:
        """Threads started during the run that are alive and not parked."""
        frames = sys._current_frames()
        busy: list[BusyThread] = []
        idle_workers: dict[int, tuple[object, list[BusyThread]]] = {}
        for thread in threading.enumerate():
            if self._is_old(thread):
                continue
            if not thread.is_alive():
                # Being started: whoever starts it waits, parked, in `Thread.start()` until it
                # runs (a pool's new worker, submitted to from another thread); not quiet.
                if thread in _LIMBO:
                    busy.append(BusyThread(thread.name, "starting", thread.native_id))
                continue
            frame = frames.get(thread.ident or -1)
            if frame is None:
                continue
            where = BusyThread(thread.name, f"{frame.f_code.co_filename}:{frame.f_lineno}", thread.native_id)
            if not is_parked(frame):
                busy.append(where)
            elif _WORKER_HOLDS_IDLE_TOKEN and frame.f_code is _POOL_WORKER:
                executor = frame.f_locals["executor_reference"]()
                if executor is not None:
                    idle_workers.setdefault(id(executor), (executor, []))[1].append(where)
        for executor, workers in idle_workers.values():
            # Fewer tokens than workers blocked in get(): an item was handed to one of them.
            if len(workers) > getattr(executor._idle_semaphore, "_value", len(workers)):  # type: ignore[attr-defined]
                busy.extend(workers)
        return busy

    def wait_quiet(self, timeout_s: float) -> list[BusyThread]:
        """Block until every run thread is parked or gone; return the busy ones on timeout."""
        if not self.may_be_busy():
            return []
        deadline = _real_monotonic() + timeout_s
        pause = 0.0001
        while True:
            busy = self.busy_threads()
            if not busy or _real_monotonic() >= deadline:
                return busy
            time.sleep(pause)
            pause = min(pause * 2, 0.005)
