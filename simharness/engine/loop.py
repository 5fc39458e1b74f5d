"""The controlled event loop: asyncio's own loop with every scheduling choice exposed.

`ControlledLoop` keeps asyncio's semantics (callbacks queued with `call_soon` run in
FIFO order, in batches exactly as `BaseEventLoop._run_once` runs them) and replaces
what the outside world decides with explicit decisions: when a due timer, an I/O
delivery, a thread result or a checkpoint continuation joins the ready queue. Time is
an integer nanosecond clock that jumps to the next timer when nothing can run.

This is the only module of simharness that touches asyncio's private attributes:
`BaseEventLoop._run_once` (overridden), `._ready`, `._stopping`, `._thread_id`, `._task_factory`,
`._check_closed()`, `._asyncgens`; `Handle._callback`, `._args`, `._cancelled`,
`._run()`; `TimerHandle._scheduled`; `Future._log_traceback`.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import re
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from simharness.engine import seam
from simharness.engine.awaits import await_point, describe_await
from simharness.errors import UnsupportedInSimulation
from simharness.engine.schedule import Decision, fingerprint
from simharness.engine.strategies.base import FIFO_OPTION, Option
from simharness.engine.simtypes import EventHandle, SimFuture, SimTask, SimTimer, resolve_future
from simharness.engine.threads import ThreadWatch
from simharness.engine.watchdog import Watchdog
from simharness.engine.executor import ThreadPerItemExecutor

_NS = 1_000_000_000


class RunAborted(Exception):
    """Raised out of the loop when a detector ends the run (deadlock, budget, blocked loop...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class StepObserver(Protocol):
    """Receives every step and decision of a run (trio's Instrument idea)."""

    def on_step(self, step: int, task: asyncio.Task[Any] | None, kind: str, key: str, now_ns: int,
                label: str = "", decision: int | None = None) -> None: ...
    def on_decision(self, step: int, options: Sequence[Option], chosen: int, now_ns: int) -> None: ...


class ExternalSource(Protocol):
    """Something outside the loop thread that posts events (sockets, children...)."""

    def settle(self, timeout_s: float) -> str | None:
        """Block until nothing in flight would post soon; return what is stuck, if anything."""
        ...

    def pending(self) -> str | None:
        """Describe what may still happen later (for deadlock messages), or None."""
        ...

    def idle(self, timeout_s: float) -> bool:
        """Nothing else can happen: wait up to `timeout_s` for this source; True if it acted.

        Optional: a source without `idle` never keeps the loop from a deadlock verdict.
        """
        ...

    def close(self) -> None: ...


_DEFAULT_THREAD_NAME = re.compile(r"^Thread-(\d+)(.*)$")


def _next_default_thread_number() -> int:
    """The N the next default-named `Thread-N` will get, read without consuming it."""
    counter = getattr(getattr(threading, "_counter", None), "__self__", None)
    match = re.fullmatch(r"count\((\d+)\)", repr(counter))
    if match:
        return int(match.group(1))
    return int(threading.Thread().name.split("-")[1].split(" ")[0])  # consumes one number
_UNSUPPORTED = {
    "add_reader": "raw file-descriptor readers", "add_writer": "raw file-descriptor writers",
    "remove_reader": "raw file-descriptor readers", "remove_writer": "raw file-descriptor writers",
    "sock_recv": "raw socket I/O", "sock_recv_into": "raw socket I/O", "sock_sendall": "raw socket I/O",
    "sock_connect": "raw socket I/O", "sock_accept": "raw socket I/O", "sock_sendfile": "raw socket I/O",
    "create_datagram_endpoint": "UDP", "create_unix_server": "Unix sockets",
    "create_unix_connection": "Unix sockets", "connect_read_pipe": "pipes", "connect_write_pipe": "pipes",
    "add_signal_handler": "signal handlers", "remove_signal_handler": "signal handlers",
    "sendfile": "sendfile", "start_tls": "TLS",
}


def _unsupported(name: str, hint: str) -> Callable[..., Any]:
    def method(self: ControlledLoop, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedInSimulation(f"loop.{name}()", f"{hint} cannot be made deterministic")
    method.__name__ = name
    return method


class ControlledLoop(asyncio.BaseEventLoop):
    """An asyncio event loop whose every nondeterministic choice is made by `choose`.

    Mechanism only: it does not know which strategy decides, and it never formats
    output. One loop serves exactly one run; `execution.Execution` creates it.
    """

    #: The loop of the run in progress, for adapters running in other threads
    #: (set and cleared by `execution.Execution`).
    active: ControlledLoop | None = None

    def __init__(
        self,
        *,
        choose: Callable[[Sequence[Option]], int],
        preemptive: bool = False,
        max_steps: int = 200_000,
        max_time_ns: int = 24 * 3600 * _NS,
        settle_timeout_s: float = 30.0,
        observer: StepObserver | None = None,
        watchdog: Watchdog | None = None,
        on_clock: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._choose = choose
        self._preemptive = preemptive
        self._max_steps = max_steps
        self._max_time_ns = max_time_ns
        self._settle_timeout_s = settle_timeout_s
        self._observer = observer
        self._watchdog = watchdog
        self._on_clock = on_clock
        self._now = 0
        self._timers: list[tuple[int, int, SimTimer]] = []
        self._timer_count = 0
        self._available: list[asyncio.Handle] = []
        self._arrivals: list[tuple[tuple[str, int], EventHandle]] = []
        self._arrival_seq: dict[str, int] = {}
        self._arrivals_lock = threading.Lock()
        self._thread_base = _next_default_thread_number() - 1
        self._threads = ThreadWatch()
        self._work_executor: ThreadPerItemExecutor | None = None
        self._sources: list[ExternalSource] = []
        self._settling: list[ExternalSource] = []  # sources that may have work in flight
        self._object_count = 0
        self._task_count = 0
        self.tasks: list[asyncio.Task[Any]] = []
        self.decisions: list[Decision] = []
        self.steps = 0
        self.invariants: list[tuple[str, Callable[[], Any]]] = []
        self.callback_errors: list[str] = []
        self.abort: tuple[str, str] | None = None
        #: The scenario's declared options (adapters read their own settings here).
        self.scenario_options: dict[str, Any] = {}
        self.draining = False  # cleanup: no decisions, no detectors, no observer

    # ----- time ---------------------------------------------------------------------
    def time(self) -> float:
        return self._now / _NS

    @property
    def now_ns(self) -> int:
        return self._now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: Any = None) -> asyncio.TimerHandle:
        self._check_closed()
        when_ns = max(round(when * _NS), self._now)
        self._timer_count += 1
        timer = SimTimer(when_ns / _NS, callback, args, self, context)
        timer.key = f"timer:{self._timer_count}"
        timer.kind = "timer"
        task = asyncio.current_task(self) if self._thread_id is not None else None
        timer.label = f"timer {self._timer_count} set by {task.get_name() if task else 'the loop'}"
        timer.decision = None
        timer._scheduled = True
        heapq.heappush(self._timers, (when_ns, self._timer_count, timer))
        return timer

    # ----- tasks and futures ----------------------------------------------------------
    def _next_number(self) -> int:
        self._object_count += 1
        return self._object_count

    def create_future(self) -> asyncio.Future[Any]:
        return SimFuture(loop=self, sim_number=self._next_number())

    def _new_task(self, coro: Any, name: str | None, context: Any, eager: bool) -> asyncio.Task[Any]:
        self._task_count += 1
        task = SimTask(coro, loop=self, name=name if name is not None else f"Task-{self._task_count}",
                       context=context, sim_number=self._next_number(), eager_start=eager)
        self.tasks.append(task)
        return task

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None) -> asyncio.Task[Any]:
        self._check_closed()
        if self._task_factory is None:
            return self._new_task(coro, name, context, eager=False)
        task = (self._task_factory(self, coro) if context is None
                else self._task_factory(self, coro, context=context))
        if name is not None:
            task.set_name(name)
        self.tasks.append(task)
        return task

    def set_task_factory(self, factory: Any) -> None:
        # An eager factory would run first steps inside create_task; ours keeps the
        # same (deterministic) semantics while still numbering tasks.
        if factory is not None and factory is getattr(asyncio, "eager_task_factory", None):
            factory = _sim_eager_factory
        super().set_task_factory(factory)

    # ----- events from the outside world ---------------------------------------------
    def post_event(self, kind: str, key: str, label: str, callback: Callable[..., Any],
                   *args: Any) -> asyncio.Handle:
        """Offer `callback(*args)` as an outside-world event (loop thread only).

        It becomes an option at the next batch boundary; events with the same `key`
        are delivered in the order they were posted (one stream, one order).
        """
        handle = EventHandle(callback, args, self, None)
        handle.key, handle.kind, handle.label, handle.decision = key, kind, label, None
        self._available.append(handle)
        return handle

    def checkpoint(self, label: str) -> asyncio.Future[Any]:
        """A future that completes when the strategy lets this checkpoint continue."""
        future = self.create_future()
        task = asyncio.current_task(self)
        owner = task.get_name() if task is not None else "loop"
        self.post_event("checkpoint", f"checkpoint:{owner}", f"{owner} {label}", resolve_future, future)
        return future

    def add_source(self, source: ExternalSource) -> None:
        """Register an outside-world source; sources with `settles_instantly = True` (in-memory
        ones) are never waited for before a decision."""
        self._sources.append(source)
        if not getattr(source, "settles_instantly", False):
            self._settling.append(source)

    def _thread_key(self, thread: threading.Thread) -> str:
        match = _DEFAULT_THREAD_NAME.match(thread.name)
        if match:  # default names count process-wide: renumber from this run's start
            return f"thread-{int(match.group(1)) - self._thread_base}{match.group(2)}"
        return thread.name

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any,
                             context: Any = None) -> asyncio.Handle:
        if self._thread_id is None or threading.get_ident() == self._thread_id:
            return self.call_soon(callback, *args, context=context)
        handle = EventHandle(callback, args, self, context)
        key = self._thread_key(threading.current_thread())
        handle.key, handle.kind, handle.decision = key, "thread", None
        handle.label = f"result from {key}"
        with self._arrivals_lock:
            seq = self._arrival_seq.get(key, 0)
            self._arrival_seq[key] = seq + 1
            self._arrivals.append(((key, seq), handle))
        return handle

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        if executor is None:
            if self._work_executor is None:
                self._work_executor = ThreadPerItemExecutor()
            executor = self._work_executor
        result = super().run_in_executor(executor, func, *args)
        if executor is self._work_executor:
            executor.start_pending()  # only now is asyncio's done-callback attached
        return result

    # ----- network and child processes: handled by the world through `seam` ------------
    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None,
                            **kwargs: Any) -> Any:
        return await seam.handler("create_server")(self, protocol_factory, host, port, **kwargs)

    async def create_connection(self, protocol_factory: Any, host: Any = None, port: Any = None,
                                **kwargs: Any) -> Any:
        return await seam.handler("create_connection")(self, protocol_factory, host, port, **kwargs)

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> Any:
        return await seam.handler("getaddrinfo")(self, host, port, family=family, type=type,
                                                 proto=proto, flags=flags)

    async def subprocess_exec(self, protocol_factory: Any, program: Any, *args: Any, **kwargs: Any) -> Any:
        return await seam.handler("subprocess_exec")(self, protocol_factory, program, *args, **kwargs)

    async def subprocess_shell(self, protocol_factory: Any, cmd: Any, **kwargs: Any) -> Any:
        return await seam.handler("subprocess_shell")(self, protocol_factory, cmd, **kwargs)

    # ----- the scheduler ---------------------------------------------------------------
    def _run_once(self) -> None:
        if self._settling or self._threads.may_be_busy():
            self._settle()
        if self._arrivals:
            with self._arrivals_lock:
                arrived, self._arrivals = self._arrivals, []
            arrived.sort(key=lambda item: item[0])
            self._available.extend(handle for _, handle in arrived)
        if not self._ready and not self._available:
            self._advance_clock()
        timers = self._timers
        while timers and timers[0][0] <= self._now:
            timer = heapq.heappop(timers)[2]
            if not timer._cancelled:
                timer._scheduled = False
                self._available.append(timer)
        if self._preemptive and not self.draining:
            self._preemptive_step()
            return
        if self._available:
            self._release_events()
        self._run_batch()

    def _settle(self) -> None:
        # While draining nothing is decided any more: never wait for outside work then.
        timeout = 0.0 if self.draining else self._settle_timeout_s
        stuck = [s for s in (src.settle(timeout) for src in self._settling) if s]
        busy = self._threads.wait_quiet(timeout)
        stuck.extend(f"thread {b.name} at {b.where}" for b in busy)
        if stuck and not self.draining:
            raise RunAborted("timeout", f"outside work did not settle within "
                             f"{self._settle_timeout_s:g} s wall time: {'; '.join(stuck)}")

    def _advance_clock(self) -> None:
        timers = self._timers
        while timers and timers[0][2]._cancelled:
            heapq.heappop(timers)
        if not timers:
            if self.draining:
                return
            # A slow child may still act: give sources that can wait the chance first.
            for source in self._sources:
                idle = getattr(source, "idle", None)
                if idle is not None and idle(self._settle_timeout_s):
                    return
            raise RunAborted("deadlock", self.deadlock_message())
        when = timers[0][0]
        if when > self._max_time_ns and not self.draining:
            raise RunAborted("timeout", f"virtual-time budget of {self._max_time_ns / _NS:g} s "
                             f"exceeded (next timer at {when / _NS:g} s)")
        if when > self._now:
            self._now = when
            if self._on_clock is not None:
                self._on_clock(when)

    def _heads(self) -> list[Any]:
        """The oldest available event of each key, in availability order."""
        heads: list[Any] = []
        seen: set[str] = set()
        live = [h for h in self._available if not h._cancelled]
        self._available = live
        for handle in live:
            if handle.key not in seen:  # the set is only asked, never iterated
                seen.add(handle.key)
                heads.append(handle)
        return heads

    def _decide(self, options: list[Option]) -> int:
        chosen = 0 if self.draining else self._choose(options)
        if not 0 <= chosen < len(options):
            raise RunAborted("exception", f"strategy chose option {chosen} of {len(options)}")
        if not self.draining:
            self.decisions.append(Decision(chosen, len(options), fingerprint(o.key for o in options)))
            if self._observer is not None:
                self._observer.on_decision(self.steps, options, chosen, self._now)
        return chosen

    def _release_events(self) -> None:
        ready = self._ready
        while self._available:
            heads = self._heads()
            if not heads:
                return
            can_defer = bool(ready)
            if len(heads) + can_defer == 1:
                chosen = 0
            else:
                options = [Option(h.key, h.kind, h.label) for h in heads]
                if can_defer:
                    options.append(FIFO_OPTION)
                chosen = self._decide(options)
                if chosen == len(heads):
                    return  # the remaining events arrive later within this instant
                heads[chosen].decision = len(self.decisions)
            self._available.remove(heads[chosen])
            ready.append(heads[chosen])

    def _preemptive_step(self) -> None:
        ready = self._ready
        while ready and ready[0]._cancelled:
            ready.popleft()
        heads = self._heads()
        queued = [h for h in ready if not h._cancelled]
        if len(queued) != len(ready):
            ready.clear()
            ready.extend(queued)
        count = len(queued) + len(heads)
        if count == 0:
            return
        chosen, decision = 0, None
        if count > 1:
            options = [self._ready_option(h) for h in queued]
            options.extend(Option(h.key, h.kind, h.label) for h in heads)
            chosen = self._decide(options)
            decision = len(self.decisions)
        if chosen < len(queued):
            handle = queued[chosen]
            del ready[chosen]
        else:
            handle = heads[chosen - len(queued)]
            self._available.remove(handle)
        self._run_step(handle, decision)

    def _ready_option(self, handle: asyncio.Handle) -> Option:
        task = getattr(handle._callback, "__self__", None)
        if isinstance(task, asyncio.Task):
            return Option(f"task:{task.get_name()}", "ready", f"{task.get_name()} resumes")
        name = describe_callback(handle)
        return Option(f"callback:{name}", "ready", name)

    def _run_batch(self, first_decision: int | None = None) -> None:
        # The hottest path of simharness: one iteration per step, so locals, no calls
        # that are not needed, and the per-step work of observers kept minimal.
        ready = self._ready
        if self.draining:
            for _ in range(len(ready)):
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
            return
        observer = self._observer
        on_step = observer.on_step if observer is not None else None
        watchdog = self._watchdog
        task_type = asyncio.Task
        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            steps = self.steps = self.steps + 1
            if steps > self._max_steps:
                raise RunAborted("timeout", f"step budget of {self._max_steps} steps exceeded "
                                 "(a busy loop that never lets virtual time advance?)")
            if on_step is not None:
                task = getattr(handle._callback, "__self__", None)
                if isinstance(task, task_type):
                    on_step(steps, task, "task", task.get_name(), self._now, "", first_decision)
                else:
                    self._observe_other(on_step, steps, handle, first_decision)
                first_decision = None
            if watchdog is not None:
                watchdog.epoch += 1
                watchdog.in_step = True
                handle._run()
                watchdog.in_step = False
            else:
                handle._run()
            if self.abort is not None:
                raise RunAborted(*self.abort)
            if self.invariants:
                self._check_invariants()

    def _observe_other(self, on_step: Callable[..., None], steps: int, handle: asyncio.Handle,
                       decision: int | None) -> None:
        if isinstance(handle, (EventHandle, SimTimer)):
            on_step(steps, None, handle.kind, handle.key, self._now, handle.label, handle.decision or decision)
        else:
            on_step(steps, None, "callback", describe_callback(handle), self._now, "", decision)

    def _run_step(self, handle: asyncio.Handle, decision: int | None) -> None:
        """Run one chosen handle as a step (preemptive mode): the batch path, for one."""
        saved, self._ready = self._ready, collections.deque((handle,))
        try:
            self._run_batch(decision)
        finally:
            saved.extend(self._ready)  # callbacks the step queued go behind the rest
            self._ready = saved

    def _check_invariants(self) -> None:
        for name, check in self.invariants:
            try:
                result = check()
            except Exception as error:  # an invariant that raises is violated
                raise RunAborted("invariant", f"invariant {name!r} raised {type(error).__name__}: "
                                 f"{error} (after step {self.steps}, t={self.time():g} s)") from error
            if result is not None and not result:
                raise RunAborted("invariant", f"invariant {name!r} violated after step "
                                 f"{self.steps} (t={self.time():g} s)")

    # ----- errors, detection and cleanup -------------------------------------------------
    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if "task" in context or "future" in context:
            return  # unretrieved task exceptions are found deterministically at the end
        error = context.get("exception")
        message = context.get("message", "error in callback")
        if error is not None:
            message = f"{message}: {type(error).__name__}: {error}"
        self.callback_errors.append(message)

    def deadlock_message(self) -> str:
        blocked = [f"{t.get_name()} awaits {describe_await(t)}" for t in self.tasks if not t.done()]
        pending = [p for p in (s.pending() for s in self._sources) if p]
        text = "nothing can run and nothing is pending"
        if blocked:
            text += "; blocked: " + "; ".join(blocked)
        if pending:
            text += "; outside: " + "; ".join(pending)
        return text

    def unretrieved_exceptions(self) -> list[tuple[asyncio.Task[Any], BaseException]]:
        """Tasks that died with an exception nobody retrieved (and silence their GC log)."""
        found = []
        for task in self.tasks:
            if task.done() and not task.cancelled() and task._log_traceback:
                task._log_traceback = False
                error = task.exception()
                if error is not None:
                    found.append((task, error))
        return found

    def drain(self, max_rounds: int = 1_000) -> None:
        """Cancel what is left and run until nothing remains (no decisions, no detectors)."""
        self.draining = True
        self._preemptive = False
        for task in self.tasks:
            if not task.done():
                task.cancel()
        for _ in range(max_rounds):
            if not self._ready and not self._available and not self._arrivals:
                timers_left = any(not entry[2]._cancelled for entry in self._timers)
                if not timers_left or all(t.done() for t in self.tasks):
                    break
                # Only a timer can move what is left (a cancelled task sleeping in its
                # clean-up): jump to it, since the stop callback below keeps the ready
                # queue from ever being empty inside run_forever.
                self._advance_clock()
            self._stopping = False
            self.call_soon(self.stop)
            self.run_forever()
        for task in self.tasks:
            if task.done() and not task.cancelled():
                task._log_traceback = False
        if self._asyncgens:
            self.run_until_complete(self.shutdown_asyncgens())
        for source in self._sources:
            source.close()
        if self._work_executor is not None:
            self._work_executor.shutdown(wait=True)


for _name, _hint in _UNSUPPORTED.items():
    setattr(ControlledLoop, _name, _unsupported(_name, _hint))


def _sim_eager_factory(loop: ControlledLoop, coro: Any, *, name: str | None = None,
                       context: Any = None) -> asyncio.Task[Any]:
    return loop._new_task(coro, name, context, eager=sys.version_info >= (3, 12))


def describe_callback(handle: asyncio.Handle) -> str:
    """A stable, address-free name for a plain callback."""
    callback = handle._callback
    return getattr(callback, "__qualname__", None) or type(callback).__name__


__all__ = ["ControlledLoop", "ExternalSource", "RunAborted", "SimFuture", "SimTask", "StepObserver",
           "await_point", "describe_await", "describe_callback"]
