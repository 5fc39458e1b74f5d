"""SQLite through aiosqlite under the controlled loop, with lock waits on the virtual clock.

aiosqlite runs each connection in a worker thread that takes requests from a queue and
posts results with `call_soon_threadsafe`. Two things would make such runs depend on
the operating system's timing, and this adapter removes both while a `RunEnvironment`
is active (it registers itself in `execution.ENVIRONMENT_PATCHES` on import):

* **Requests run one at a time, in the order the loop queued them.** aiosqlite's
  request queue is replaced by `_TicketQueue`, a Condition-based queue (so an idle
  worker counts as parked for `threads.ThreadWatch`) that gives every request a ticket
  on the loop thread. A worker runs its request only when its ticket is the oldest
  runnable one (`_Serializer`), so which of two connections takes a database lock first
  never depends on which worker thread the OS woke first.
* **Lock waits park instead of sleeping.** `sqlite3.connect` called inside a ticketed
  request returns a connection with SQLite's own busy timeout set to 0 whose
  statements and commits, on "database is locked", give up their turn and park on the
  serializer's condition until another request completes, then retry. The connection's
  busy timeout (`timeout=`, 5 s by default) runs on the virtual clock: the serializer,
  an `ExternalSource` of the loop, sets a loop timer at the deadline that makes the
  waiter raise the real `OperationalError`. A lock wait therefore costs no wall time,
  and a true lock deadlock fails at its virtual deadline, as it would for real.

Outside simulation nothing is patched: the real backend uses aiosqlite and sqlite3 as
installed. sqlite3 used directly from other threads (for example `asyncio.to_thread`)
is not serialized; its lock waits follow the real busy timeout (see
docs/fragments/threads-processes.md).

Longer than ~300 lines on purpose: the request serializer, the lock waits on the
virtual clock and the connection/cursor classes that retry through them are one
mechanism; split, each part would reach into the serializer's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from simharness.engine import execution
from simharness.engine.executor import mark_posts
from simharness.engine.loop import ControlledLoop
from simharness.engine.realtime import monotonic as _real_monotonic

_REAL_CONNECT = sqlite3.connect
_CONNECT_ARGS = ("timeout", "detect_types", "isolation_level", "check_same_thread", "factory",
                 "cached_statements", "uri")
_SQLITE_BUSY = 5
_local = threading.local()  # .ticket: the request the current worker thread is running


class _Ticket:
    """One request queued to an aiosqlite worker, and where it stands."""

    __slots__ = ("number", "queue", "state", "timeout_s", "deadline_ns", "timer", "timer_ns")

    def __init__(self, number: int, owner: _TicketQueue) -> None:
        self.number = number
        self.queue = owner
        # queued -> running -> (busy -> retry|giveup -> running)* -> done
        self.state = "queued"
        self.timeout_s = 0.0
        self.deadline_ns: int | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_ns: int | None = None


class _Serializer:
    """Runs the aiosqlite requests of one run one at a time, in ticket order.

    The runnable candidates are the oldest unfinished request of each connection,
    unless it waits for a lock; the one with the lowest ticket goes next. It is an
    `ExternalSource`: `settle` waits until nothing can run without the loop.
    """

    def __init__(self, loop: ControlledLoop) -> None:
        self.loop = loop
        self.cond = threading.Condition()
        self.tickets: list[_Ticket] = []   # unfinished, in ticket order
        self.timed: list[_Ticket] = []     # tickets with a busy-timeout timer on the loop
        self.turn: _Ticket | None = None
        self.count = 0
        self.queues = 0
        self.closed = False

    # ----- loop thread ------------------------------------------------------------------
    def issue(self, owner: _TicketQueue) -> _Ticket:
        with self.cond:
            self.count += 1
            ticket = _Ticket(self.count, owner)
            self.tickets.append(ticket)
            return ticket

    def settle(self, timeout_s: float) -> str | None:
        deadline = _real_monotonic() + timeout_s
        with self.cond:
            while not self._quiet():
                left = deadline - _real_monotonic()
                if left <= 0:
                    running = self.turn or self._next()
                    where = f" (request {running.number} of {running.queue.name})" if running else ""
                    return f"aiosqlite requests did not finish{where}"
                self.cond.wait(min(left, 0.05))
            self._sync_timers()
        return None

    def _sync_timers(self) -> None:
        # Waiting for a lock costs virtual time only: one loop timer per waiting
        # request, at the deadline its connection's busy timeout sets.
        for ticket in list(self.timed):
            if ticket.state != "busy" or ticket.timer_ns != ticket.deadline_ns:
                if ticket.timer is not None:
                    ticket.timer.cancel()
                ticket.timer = ticket.timer_ns = None
                self.timed.remove(ticket)
        for ticket in self.tickets:
            if ticket.state == "busy" and ticket.timer is None:
                if ticket.deadline_ns is None:
                    ticket.deadline_ns = self.loop.now_ns + round(ticket.timeout_s * 1e9)
                ticket.timer_ns = ticket.deadline_ns
                ticket.timer = self.loop.call_at(ticket.deadline_ns / 1e9, self._give_up, ticket)
                self.timed.append(ticket)

    def _give_up(self, ticket: _Ticket) -> None:
        with self.cond:
            if ticket.state == "busy":
                ticket.state = "giveup"
                self.cond.notify_all()

    def pending(self) -> str | None:
        with self.cond:
            waiting = [f"{t.queue.name} waits for a database lock until t={t.deadline_ns / 1e9:g} s"
                       for t in self.tickets if t.state == "busy" and t.deadline_ns is not None]
        return "; ".join(waiting) or None

    def close(self) -> None:
        """End of the run: let every parked request fail and finish (bounded wait)."""
        with self.cond:
            self.closed = True
            for ticket in self.tickets:
                if ticket.state == "busy":
                    ticket.state = "giveup"
            self.cond.notify_all()
            deadline = _real_monotonic() + 2.0
            while self.turn is not None and _real_monotonic() < deadline:
                self.cond.wait(0.05)

    # ----- worker threads ---------------------------------------------------------------
    def _next(self) -> _Ticket | None:
        """The request that may run now: the lowest-numbered runnable head of a queue."""
        seen: list[_TicketQueue] = []
        for ticket in self.tickets:
            if ticket.queue in seen:
                continue
            seen.append(ticket.queue)
            if ticket.state in ("queued", "retry", "giveup"):
                return ticket
        return None

    def _quiet(self) -> bool:
        return self.turn is None and self._next() is None

    def _take_turn(self, ticket: _Ticket) -> None:
        while not (self.closed or (self.turn is None and self._next() is ticket)):
            self.cond.wait()
        self.turn = ticket

    def run(self, ticket: _Ticket, function: Callable[[], Any]) -> Any:
        """Run one request in its turn (called by the worker thread)."""
        # Requests of different connections run in parallel in reality: their results
        # may reach the loop in either order (this thread serves only requests).
        mark_posts("sqlite")
        with self.cond:
            self._take_turn(ticket)
            ticket.state = "running"
        _local.ticket = ticket
        try:
            return function()
        finally:
            _local.ticket = None
            with self.cond:
                ticket.state = "done"
                self.tickets.remove(ticket)
                if self.turn is ticket:
                    self.turn = None
                # A finished request may have released a lock: every waiter retries.
                for other in self.tickets:
                    if other.state == "busy":
                        other.state = "retry"
                self.cond.notify_all()

    def wait_for_lock(self, ticket: _Ticket, timeout_s: float) -> bool:
        """Park until another request finishes (True: retry) or the timeout passes (False)."""
        with self.cond:
            if self.closed:
                return False
            ticket.state = "busy"
            ticket.timeout_s = timeout_s
            self.turn = None
            self.cond.notify_all()
            while ticket.state == "busy":
                self.cond.wait()
            self._take_turn(ticket)
            gave_up = ticket.state == "giveup"
            ticket.state = "running"
            if gave_up:
                ticket.deadline_ns = None
            return not gave_up

    def lock_taken(self, ticket: _Ticket) -> None:
        with self.cond:
            ticket.deadline_ns = None


_current: _Serializer | None = None


def _serializer() -> _Serializer | None:
    """The serializer of the controlled loop running in this thread, if any."""
    global _current
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if not isinstance(loop, ControlledLoop):
        return None
    if _current is None or _current.loop is not loop:
        _current = _Serializer(loop)
        loop.add_source(_current)
    return _current


class _TicketQueue(queue.Queue):  # type: ignore[type-arg]
    """aiosqlite's request queue in simulation: every (future, function) request gets a ticket."""

    def __init__(self) -> None:
        super().__init__()
        self.serializer = _serializer()
        if self.serializer is not None:
            self.serializer.queues += 1
            self.name = f"sqlite-connection-{self.serializer.queues}"
        else:
            self.name = "sqlite-connection"

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        serializer = self.serializer
        if (serializer is not None and _serializer() is serializer and isinstance(item, tuple)
                and len(item) == 2 and callable(item[1])):
            ticket = serializer.issue(self)
            item = (item[0], partial(serializer.run, ticket, item[1]))
        super().put(item, block, timeout)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code == _SQLITE_BUSY if code is not None else str(error) == "database is locked"


def _retrying(timeout_s: float, operation: Callable[[], Any]) -> Any:
    """Run `operation`; on "database is locked", wait for the lock on the virtual clock."""
    ticket: _Ticket | None = getattr(_local, "ticket", None)
    waited = False
    while True:
        try:
            result = operation()
        except sqlite3.OperationalError as error:
            if ticket is None or not _is_busy(error):
                raise
            waited = True
            if not ticket.queue.serializer.wait_for_lock(ticket, timeout_s):  # type: ignore[union-attr]
                raise
            continue
        if waited and ticket is not None:
            ticket.queue.serializer.lock_taken(ticket)  # type: ignore[union-attr]
        return result


class _SimCursorMixin:
    """Cursor methods that wait for locks like `_SimConnectionMixin`."""

    _sim_timeout_s = 5.0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return _retrying(self._sim_timeout_s, lambda: super(_SimCursorMixin, self).execute(*args, **kwargs))

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return _retrying(self._sim_timeout_s,
                         lambda: super(_SimCursorMixin, self).executemany(*args, **kwargs))

    def executescript(self, script: str) -> Any:
        return _script(self._sim_timeout_s, script, super().executescript)  # type: ignore[misc]


class _SimConnectionMixin:
    """Connection methods that wait for locks on the virtual clock (timeout=0 underneath)."""

    _sim_timeout_s = 5.0

    def cursor(self, factory: Any = None) -> Any:
        cursor = super().cursor(_sim_class(factory or sqlite3.Cursor, _SimCursorMixin))  # type: ignore[misc]
        cursor._sim_timeout_s = self._sim_timeout_s
        return cursor

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return _retrying(self._sim_timeout_s,
                         lambda: super(_SimConnectionMixin, self).execute(*args, **kwargs))

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return _retrying(self._sim_timeout_s,
                         lambda: super(_SimConnectionMixin, self).executemany(*args, **kwargs))

    def executescript(self, script: str) -> Any:
        return _script(self._sim_timeout_s, script, super().executescript)  # type: ignore[misc]

    def commit(self) -> None:
        _retrying(self._sim_timeout_s, super().commit)  # type: ignore[misc]


def _script(timeout_s: float, script: str, run: Callable[[str], Any]) -> Any:
    # A script that failed half-way cannot be re-run from the start, so only a
    # one-statement script waits for a lock; a longer one fails fast (documented).
    if ";" not in script.strip().rstrip(";"):
        return _retrying(timeout_s, lambda: run(script))
    return run(script)


_classes: dict[tuple[type, type], type] = {}


def _sim_class(base: type, mixin: type) -> type:
    """`base` (a user's factory or the sqlite3 class) with the lock-waiting mixin in front."""
    if issubclass(base, mixin):
        return base
    key = (base, mixin)
    if key not in _classes:
        _classes[key] = type(f"Sim{base.__name__}", (mixin, base), {})
    return _classes[key]


def _sim_connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
    """`sqlite3.connect` during simulation: inside an aiosqlite request, a lock-waiting connection."""
    if getattr(_local, "ticket", None) is None:
        return _REAL_CONNECT(database, *args, **kwargs)
    kwargs.update(zip(_CONNECT_ARGS, args))
    timeout_s = float(kwargs.pop("timeout", 5.0))
    factory = _sim_class(kwargs.pop("factory", sqlite3.Connection), _SimConnectionMixin)
    connection = _REAL_CONNECT(database, timeout=0.0, factory=factory, **kwargs)
    connection._sim_timeout_s = timeout_s  # type: ignore[attr-defined]
    return connection


@contextlib.contextmanager
def sqlite_patch() -> Iterator[None]:
    """While simulating: ticketed aiosqlite queues and lock-waiting sqlite3 connections."""
    saved: list[tuple[Any, str, Any]] = [(sqlite3, "connect", sqlite3.connect),
                                         (sqlite3.dbapi2, "connect", sqlite3.dbapi2.connect)]
    try:
        import aiosqlite.core as aiosqlite_core
    except ImportError:
        aiosqlite_core = None
    if aiosqlite_core is not None:
        for name in ("SimpleQueue", "Queue"):  # 0.20+ uses SimpleQueue, older versions Queue
            if hasattr(aiosqlite_core, name):
                saved.append((aiosqlite_core, name, getattr(aiosqlite_core, name)))
    for module, name, _ in saved:
        setattr(module, name, _sim_connect if name == "connect" else _TicketQueue)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


if sqlite_patch not in execution.ENVIRONMENT_PATCHES:
    execution.ENVIRONMENT_PATCHES.append(sqlite_patch)
