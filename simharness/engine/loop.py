"""The controlled event loop: asyncio's own loop iteration, with a virtual clock and a deciding selector.

`ControlledLoop` does not reimplement scheduling. It keeps `BaseEventLoop._run_once`
of the running interpreter (its ready deque, its timer heap, its batch rule) and
replaces only what the outside world decides:

* `time()` is a virtual clock (integer nanoseconds);
* the selector's `select(timeout)` is the one decision point: which pending outside
  events (checkpoints, simulated I/O, thread results, child output) complete now, and,
  when nothing is ready, that time passes to the next deadline, as a real `select`
  sleeps. Option 0 is always what the stock loop does, so the all-zero schedule is the
  stock run.

Timers tie-break equal deadlines by registration order, as a real clock (which moves
between two registrations) orders them.

This is the only module of simharness that touches asyncio's private attributes:
`BaseEventLoop._run_once` (kept, not overridden), `._selector`, `._process_events()`,
`._call_soon()`, `._ready`, `._scheduled`, `._stopping`, `._clock_resolution`,
`._thread_id`, `._task_factory`, `._exception_handler`, `._asyncgens`,
`._check_closed()`, `._timer_handle_cancelled()`; `Handle._run()`, `._callback`,
`._cancelled`, `._context`, `._source_traceback`; `TimerHandle._when`, `._scheduled`;
`Task._log_traceback`. (It is longer than ~300 lines because all of them belong here.)
"""

from __future__ import annotations

import asyncio
import heapq
import math
import re
import sys
import threading
import types
import weakref
from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol

from simharness.engine.arrivals import PendingEvents
from simharness.engine.awaits import await_point, describe_await
from simharness.engine.executor import ThreadPerItemExecutor, posting_kind
from simharness.engine.history import EMPTY, decision_state, fold_steps
from simharness.engine.schedule import Decision, fingerprint
from simharness.engine.signals import SignalMethods
from simharness.engine.simtypes import SimFuture, SimTask
from simharness.engine.strategies.base import FIFO_OPTION, Option
from simharness.engine.threads import ThreadWatch, real_socket_wait
from simharness.engine.watchdog import Watchdog
from simharness.engine.world_methods import WorldMethods
from simharness.errors import UnsupportedInSimulation

_NS = 1_000_000_000

#: Outside operations whose duration the explorer chooses, so they may still be running
#: when any timer falls due: only `sh.checkpoint()`, whose duration the test says it
#: does not control.
OPEN_ENDED_KINDS = frozenset({"checkpoint"})

#: Outside events the stock loop sees at its very next select: a checkpoint (on the
#: real runtime a `sleep(0)`) and a delivery on the (in-memory) loopback network. Any
#: other outside event (a thread's result, a child's output or exit, an aiosqlite
#: result) comes, by default, once the loop's own ready work is done.
PROMPT_KINDS = frozenset({"checkpoint", "io"})

#: Every other outside event (a delivery on the in-memory network, a thread's result,
#: a child's output or exit, an aiosqlite result) is a real component that takes the
#: time it really takes; its delivery to the loop may still lag, as a real select or a
#: child watcher does, by up to this much virtual time: it may be held past a timer due
#: within this window, never past a later one. A child that exits in a millisecond
#: therefore never outlasts a 30 s timeout in simulation.
DELIVERY_LAG_NS = 10_000_000  # 10 ms

#: A slow outside event is held back behind the loop's own ready work, by default, for
#: at most this many consecutive steps. The stock loop polls its selector on every
#: iteration, so code that polls in a busy loop (`while proc.returncode is None: await
#: asyncio.sleep(0)`) sees a finished thread or child after a few milliseconds; holding
#: it back longer stays a choice, but is not the default (else the default order of such
#: code is an endless busy loop that real asyncio never runs).
PATIENCE_STEPS = 1_000


def _ns_at_or_after(when: float) -> int:
    """The first virtual nanosecond at which `loop.time()` has reached the float deadline `when`.

    Not the nearest one: rounded down, the clock would stop a hair before a deadline the
    code then sleeps toward again, forever (a real clock always moves on).
    """
    ns = math.ceil(when * _NS)
    return ns if ns / _NS >= when else ns + 1


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
    """Something outside the loop thread that posts events (children, SQLite requests...)."""

    def settle(self, timeout_s: float) -> str | None:
        """Block until nothing in flight would post soon; return what is stuck, if anything."""
        ...

    def pending(self) -> str | None:
        """Describe what may still happen later (for deadlock messages), or None."""
        ...

    def close(self) -> None: ...


# ----- handles: asyncio's, with the step bookkeeping in `_run` -----------------------------
_handle_run = asyncio.Handle._run
_DEFAULT_TASK_NAME = re.compile(r"^Task-\d+$")


def _adopt(loop: ControlledLoop, task: asyncio.Task[Any]) -> None:
    """Name a task built outside `create_task` (`asyncio.Task(...)` directly, as aiohttp does
    on 3.12+ for eager start, or by a task factory) per run, as `create_task` names its own.

    Its default name comes from a process-wide counter: it would differ between a run and
    its replay in another process, and it is part of traces and labels.
    """
    adopted = loop.__dict__.get("_adopted_tasks")
    if adopted is None:  # held weakly: a pending task nobody references may still be collected
        from weakref import WeakSet
        adopted = loop.__dict__["_adopted_tasks"] = WeakSet()  # membership only, never iterated
    if task in adopted:
        return
    adopted.add(task)
    if _DEFAULT_TASK_NAME.match(task.get_name()):
        loop._task_count += 1
        task.set_name(f"Task-{loop._task_count}")


class StepHandle(asyncio.Handle):
    """A ready callback; running it is one step of the run."""

    __slots__ = ("key", "kind", "label", "decision", "after", "completion", "not_before")

    def _run(self) -> None:
        # The hottest path of simharness (once per step): the bookkeeping is inlined.
        loop: ControlledLoop = self._loop  # type: ignore[assignment]
        if loop.draining:
            _handle_run(self)
            return
        steps = loop.steps = loop.steps + 1
        if steps > loop._max_steps:
            raise RunAborted("timeout", f"step budget of {loop._max_steps} steps exceeded "
                             "(a busy loop that never lets virtual time advance?)")
        history = loop.history
        if history is not None:  # engine/history.py: a plain callback is the ready queue's oldest
            if loop._now != loop.history_at:
                loop.history_at = loop._now
                history.append(loop._now)
            history.append(self.key if self.kind is not None else "")
        observer = loop._observer
        if observer is not None:
            kind = self.kind
            if kind is not None and kind != "checkpoint":  # a checkpoint resumes its task: a task step
                observer.on_step(steps, None, kind, self.key, loop._now, self.label, self.decision)
            else:
                task = getattr(self._callback, "__self__", None)
                if type(task) is not SimTask and isinstance(task, asyncio.Task):
                    _adopt(loop, task)
                if type(task) is SimTask or isinstance(task, asyncio.Task):
                    observer.on_step(steps, task, "task", task.get_name(), loop._now, "", self.decision)
                else:
                    observer.on_step(steps, None, "callback", describe_callback(self), loop._now, "",
                                     self.decision)
        watchdog = loop._watchdog
        if watchdog is None:
            _handle_run(self)
        else:
            watchdog.epoch += 1
            watchdog.in_step = True
            _handle_run(self)
            watchdog.in_step = False
        if loop.abort is not None:
            raise RunAborted(*loop.abort)
        if loop.invariants:
            loop._check_invariants()


class SimTimer(asyncio.TimerHandle):
    """A timer; equal deadlines fire in registration order, as on a real clock."""

    __slots__ = ("seq", "key", "kind", "label", "decision")

    def __lt__(self, other: Any) -> bool:
        if self._when == other._when:
            return self.seq < other.seq  # type: ignore[no-any-return]
        return self._when < other._when  # type: ignore[no-any-return]

    def _run(self) -> None:
        StepHandle._run(self)  # type: ignore[arg-type]


@types.coroutine
def _yield_once() -> Generator[None, None, None]:
    """Yield to the loop once, as `asyncio.sleep(0)` does."""
    yield


_DEFAULT_THREAD_NAME = re.compile(r"^Thread-(\d+)(.*)$")


def _next_default_thread_number() -> int:
    """The N the next default-named `Thread-N` will get, read without consuming it."""
    counter = getattr(getattr(threading, "_counter", None), "__self__", None)
    match = re.fullmatch(r"count\((\d+)\)", repr(counter))
    if match:
        return int(match.group(1))
    return int(threading.Thread().name.split("-")[1].split(" ")[0])  # consumes one number


class DecidingSelector:
    """The loop's selector: `select(timeout)` asks the loop's decision procedure."""

    def __init__(self, loop: ControlledLoop) -> None:
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        return self._loop._select(timeout)

    def close(self) -> None:
        pass


class ControlledLoop(WorldMethods, SignalMethods, asyncio.BaseEventLoop):
    """An asyncio event loop whose outside world is decided by `choose`.

    Mechanism only: it does not know which strategy decides, and it never formats
    output. One loop serves exactly one run; `execution.Execution` creates it.
    """

    #: The loop of the run in progress, for adapters running in other threads.
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
        self._selector = DecidingSelector(self)
        # The host's clock resolution would make "due" depend on the machine.
        self._clock_resolution = 1e-9
        self._choose = choose
        self._preemptive = preemptive
        self._max_steps = max_steps
        self._max_time_ns = max_time_ns
        self._settle_timeout_s = settle_timeout_s
        self._observer = observer
        # A strategy that prunes states it has explored (dfs's reduction) asks for each
        # decision's state by defining `observe_state`; only then is the history digest
        # kept (engine/history.py), never in preemptive mode, where it does not identify steps.
        self._observe_state: Callable[[int], None] | None = getattr(
            getattr(choose, "__self__", None), "observe_state", None)
        #: The steps run since the last decision (keys, "" for a plain callback, the clock
        #: when it moved: engine/history.py), or None when nobody asked for states.
        self.history: list[str | int] | None = [] if self._observe_state is not None and not preemptive else None
        self.history_at = 0       # the clock as `history` last recorded it
        self._digest = EMPTY      # the steps before `history`, folded
        self._watchdog = watchdog
        self._on_clock = on_clock
        self._now = 0
        self._timer_count = 0
        self._pending = PendingEvents()
        self._stash: list[asyncio.Handle] = []  # preemptive mode: ready callbacks held back
        self._thread_base = _next_default_thread_number() - 1
        self._threads = ThreadWatch()
        self._work_executor: ThreadPerItemExecutor | None = None
        self._sources: list[ExternalSource] = []
        self._settling: list[ExternalSource] = []
        self._object_count = 0
        self._task_count = 0
        self._quiescing = False  # after the scenario returned: let the world settle, no decisions
        self._checkpoint: tuple[str, str] | None = None  # set while a task yields at a checkpoint
        # Held weakly, in creation order, as the stock loop holds them (a WeakSet): a
        # pending task nobody references can be collected ("Task was destroyed but it is
        # pending!"), the stock bug behind "keep a reference to create_task's result".
        self._task_refs: list[weakref.ref[asyncio.Task[Any]]] = []
        # Tasks whose unretrieved exception was reported by garbage collection (their
        # report went to the handler or logger, as on the stock loop).
        self._collected_unretrieved: list[tuple[asyncio.Task[Any], BaseException]] = []
        self._signal_handlers: dict[int, asyncio.Handle] = {}  # add_signal_handler (engine/signals.py)
        #: Set by a run that reports unretrieved task exceptions as its finding: their
        #: garbage-collection report then goes only to a handler the user installed
        #: (the finding says it once, instead of a log line per schedule).
        self.unretrieved_is_finding = False
        self.decisions: list[Decision] = []
        self.steps = 0
        self._held_back_since: int | None = None  # see PATIENCE_STEPS
        self._thread_clocks = threading.local()  # each other thread's virtual time (thread_waited)
        self.invariants: list[tuple[str, Callable[[], Any]]] = []
        self.callback_errors: list[str] = []
        self.abort: tuple[str, str] | None = None
        #: The first API the run used that simulation refuses (the run then has no verdict).
        self.unsupported: UnsupportedInSimulation | None = None
        #: The scenario's declared options (adapters read their own settings here).
        self.scenario_options: dict[str, Any] = {}
        self.draining = False  # cleanup: no decisions, no detectors, no observer

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        """The tasks of this loop still alive, in creation order."""
        return [task for task in (ref() for ref in self._task_refs) if task is not None]

    # ----- time ------------------------------------------------------------------------
    def time(self) -> float:
        return self._now / _NS

    @property
    def now_ns(self) -> int:
        return self._now

    def has_ready_work(self) -> bool:
        """True while callbacks wait in the ready queue (for strategies that model durations)."""
        return bool(self._ready)

    def next_deadline(self) -> float | None:
        """The loop time of the earliest live timer, None when no timer is set."""
        live = [t._when for t in self._scheduled if not t._cancelled]
        return min(live) if live else None

    def _set_clock(self, when_ns: int) -> None:
        if when_ns <= self._now:
            return
        if when_ns > self._max_time_ns and not self.draining:
            raise RunAborted("timeout", f"virtual-time budget of {self._max_time_ns / _NS:g} s "
                             f"exceeded (next deadline at {when_ns / _NS:g} s)")
        self._now = when_ns
        if self._on_clock is not None:
            self._on_clock(when_ns)

    def blocked_for(self, seconds: float) -> None:
        """The loop's thread just waited synchronously for `seconds` (a timed wait that
        expired, e.g. `threading.Condition.wait(timeout)` in scenario code): on the stock
        loop its clock moved on as long, so the virtual clock does too. Deterministic: the
        requested duration, never the measured one."""
        if self.draining or not seconds > 0 or not math.isfinite(seconds):
            return
        watchdog = self._watchdog
        if watchdog is None or not watchdog.in_step:
            # Only scenario code blocks the loop: the world's own timed waits while the
            # loop settles (between steps) poll real threads and must not move the clock.
            return
        target = self._now + round(seconds * _NS)
        if target > self._max_time_ns:
            if self.abort is None:  # ends the run after this step (never raised into user code)
                self.abort = ("timeout", f"virtual-time budget of {self._max_time_ns / _NS:g} s "
                              "exceeded (by a synchronous timed wait on the loop's thread)")
            return
        self._set_clock(target)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: Any = None) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        self._timer_count += 1
        timer = SimTimer(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        timer.seq = self._timer_count
        timer.key, timer.kind, timer.decision = f"timer:{self._timer_count}", "timer", None
        task = asyncio.current_task(self) if self._thread_id is not None else None
        timer.label = f"timer {self._timer_count} set by {task.get_name() if task else 'the loop'}"
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    # ----- callbacks, tasks and futures ---------------------------------------------------
    def _call_soon(self, callback: Callable[..., Any], args: Any, context: Any) -> asyncio.Handle:
        handle = StepHandle(callback, args, self, context)
        if handle._source_traceback:  # debug mode: the caller's frame last, as on the stock loop
            del handle._source_traceback[-1]
        handle.decision = handle.kind = None
        if self._checkpoint is not None:
            # The task that just yielded at a checkpoint reschedules itself: its next step
            # is an outside event, released (by default) at the very next select, which
            # is exactly when `asyncio.sleep(0)` would have resumed it on the stock loop.
            handle.key, handle.label = self._checkpoint
            handle.kind = "checkpoint"
            self._checkpoint = None
            self._pending.add(handle)
            return handle
        self._ready.append(handle)
        return handle

    def _next_number(self) -> int:
        self._object_count += 1
        return self._object_count

    def create_future(self) -> asyncio.Future[Any]:
        return SimFuture(loop=self, sim_number=self._next_number())

    def _new_task(self, coro: Any, name: str | None, context: Any, eager: bool) -> asyncio.Task[Any]:
        self._task_count += 1
        task = SimTask(coro, loop=self, name=name if name is not None else f"Task-{self._task_count}",
                       context=context, sim_number=self._next_number(), eager_start=eager)
        self._task_refs.append(weakref.ref(task))
        return task

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None) -> asyncio.Task[Any]:
        self._check_closed()
        if self._task_factory is None:
            return self._new_task(coro, name, context, eager=False)
        task = (self._task_factory(self, coro) if context is None
                else self._task_factory(self, coro, context=context))
        if name is not None:
            task.set_name(name)
        self._task_refs.append(weakref.ref(task))
        return task

    def set_task_factory(self, factory: Any) -> None:
        # asyncio's eager factory builds a plain Task; ours is the same eager task with a
        # creation-number hash (sets of tasks then iterate the same in every process).
        if factory is not None and factory is getattr(asyncio, "eager_task_factory", None):
            factory = _sim_eager_factory
        super().set_task_factory(factory)

    # ----- events from the outside world -----------------------------------------------
    def post_event(self, kind: str, key: str, label: str, callback: Callable[..., Any],
                   *args: Any) -> asyncio.Handle:
        """Offer `callback(*args)` as an outside-world event (loop thread only).

        It completes at a later decision point; events with the same `key` complete in
        the order they were posted (one stream, one order).
        """
        handle = StepHandle(callback, args, self, None)
        handle.key, handle.kind, handle.label, handle.decision = key, kind, label, None
        self._pending.add(handle)
        return handle

    def post_from_signal(self, key: str, label: str, handle: asyncio.Handle) -> None:
        """A delivered signal (any thread, even mid-bytecode of the loop thread): its
        handler's run is an outside event, released by default at the next select."""
        event = StepHandle(handle._callback, handle._args, self, handle._context)
        event.key, event.kind, event.label, event.decision = key, "io", label, None
        self._pending.arrive(event, completion=False)

    def close(self) -> None:
        self.remove_all_signal_handlers()
        super().close()

    def checkpoint(self, label: str) -> Any:
        """An awaitable: the current task yields, and resumes when the strategy lets it.

        Like `asyncio.sleep(0)`, it yields once; the task's next step becomes an outside
        event instead of a ready callback (see `_call_soon`).
        """
        task = asyncio.current_task(self)
        if task is None:
            return _yield_once()
        owner = task.get_name()
        self._checkpoint = (f"checkpoint:{owner}", f"{owner} {label}")
        return _yield_once()

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
            # As asyncio's own call_soon_threadsafe (not through call_soon, whose frame
            # would end a debug-mode source traceback instead of the caller's).
            self._check_closed()
            if self._debug:
                self._check_callback(callback, "call_soon_threadsafe")
            handle = self._call_soon(callback, args, context)
            if handle._source_traceback:
                del handle._source_traceback[-1]
            return handle
        handle = StepHandle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        key = self._thread_key(threading.current_thread())
        kind = posting_kind()
        handle.key, handle.kind, handle.decision = key, kind or "post", None
        handle.label = f"result from {key}" if kind else f"callback posted by {key}"
        # Not before the thread's own virtual time: on the stock loop a thread that slept
        # for d posts at least d after it started (see `thread_waited`).
        self._pending.arrive(handle, completion=kind is not None,
                             not_before=getattr(self._thread_clocks, "now_ns", 0))
        return handle

    def thread_waited(self, seconds: float) -> None:
        """The calling thread (not the loop's) just slept for `seconds` (`time.sleep`):
        its virtual time moves on from the loop's present, so what it posts
        next completes no earlier (`to_thread(time.sleep, 1)` takes a virtual second, and
        a 0.5 s timeout around it expires). The requested duration, never the measured one;
        while any thread works the loop waits for it, so the present it reads is stable."""
        if not seconds > 0 or not math.isfinite(seconds):
            return
        clocks = self._thread_clocks
        clocks.now_ns = max(getattr(clocks, "now_ns", 0), self._now) + round(seconds * _NS)

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        if executor is None:
            if self._work_executor is None:
                self._work_executor = ThreadPerItemExecutor()
            executor = self._work_executor
        result = super().run_in_executor(executor, func, *args)
        if executor is self._work_executor:
            executor.start_pending()  # only now is asyncio's done-callback attached
        return result

    # ----- the decision point: the selector ----------------------------------------------
    def _process_events(self, event_list: list[Any]) -> None:
        self._ready.extend(event_list)

    def _select(self, timeout: float | None) -> list[Any]:
        """What completes before this iteration runs; advances the clock when nothing is ready."""
        if self._stash:  # preemptive mode: callbacks held back last time go first again
            self._ready.extendleft(reversed(self._stash))
            self._stash = []
        if self._stopping and not self.draining and not self._quiescing:
            return []
        if not self.draining and (self._settling or self._threads.may_be_busy()):
            self._settle()
        pending = self._pending
        pending.admit_arrivals()
        if self._quiescing:
            return pending.take_all()
        if self.draining:
            released = pending.take_all()
            if (not released and not self._ready and self._scheduled
                    and math.isfinite(self._scheduled[0]._when)):
                self._set_clock(_ns_at_or_after(self._scheduled[0]._when))
            return released
        if self._preemptive:
            return self._preemptive_select()
        released: list[Any] = []
        busy = bool(self._ready)  # the loop has work of its own this iteration
        while True:
            heads = pending.heads(self._now)
            if not heads:
                break
            # Holding every outside event back is possible when something else can run
            # (ready callbacks, one released just now), or when a timer falls due first
            # and every held-back operation can take that long (see DELIVERY_LAG_NS).
            # (A timer at an infinite deadline, `asyncio.sleep(math.inf)`, never falls due.)
            can_wait = busy or bool(released) or (bool(self._scheduled) and math.isfinite(self._scheduled[0]._when) and (
                self._scheduled[0]._when * _NS - self._now <= DELIVERY_LAG_NS
                or all(h.kind in OPEN_ENDED_KINDS for h in heads)))
            # The stock loop's order: a checkpoint (a sleep(0)) and a loopback delivery are
            # there at the next select; a thread's result or a child's output comes after
            # the loop's own ready work (microseconds of callbacks beat a context switch).
            prompt = [h for h in heads if h.kind in PROMPT_KINDS]
            slow = [h for h in heads if h.kind not in PROMPT_KINDS]
            targets: list[Any] = list(prompt)
            if can_wait and busy and slow and self._still_patient():
                targets.append(None)
            targets.extend(slow)
            if can_wait and None not in targets:
                targets.append(None)
            chosen = 0
            if len(targets) > 1:
                options = [FIFO_OPTION if t is None else Option(t.key, t.kind, t.label) for t in targets]
                chosen = self._decide(options, released)
            target = targets[chosen]
            if target is None:
                break
            if len(targets) > 1:
                target.decision = len(self.decisions)
            pending.remove(target)
            released.append(target)
        if self._held_back_since is not None and (
                not busy or any(h.kind not in PROMPT_KINDS for h in released) or not pending.heads(self._now)):
            self._held_back_since = None  # (asks heads() again only while something is held back)
        if not released and not self._ready:
            self._let_time_pass()
        return released

    def _still_patient(self) -> bool:
        """True while slow outside events have been held back for fewer than PATIENCE_STEPS."""
        if self._held_back_since is None:
            self._held_back_since = self.steps
        return self.steps - self._held_back_since < PATIENCE_STEPS

    def _let_time_pass(self) -> None:
        """Nothing can run now: sleep (virtually) to the next deadline, or end in a deadlock."""
        next_due = self._pending.next_due(self._now)  # a thread's result after its sleeps
        if self._scheduled and math.isfinite(self._scheduled[0]._when):
            timer_due = _ns_at_or_after(self._scheduled[0]._when)
            self._set_clock(timer_due if next_due is None else min(timer_due, next_due))
            return
        if next_due is not None:
            self._set_clock(next_due)
            return
        if self._pending:
            return  # held back by causality only; the next select releases them
        # A slow child may still act: sources that can wait get the chance first.
        for source in self._sources:
            idle = getattr(source, "idle", None)
            if idle is not None and idle(self._settle_timeout_s):
                return
        raise RunAborted("deadlock", self.deadlock_message())

    def _settle(self) -> None:
        timeout = self._settle_timeout_s
        stuck = [s for s in (src.settle(timeout) for src in self._settling) if s]
        busy = self._threads.wait_quiet(timeout)
        stuck.extend(f"thread {b.name} at {b.where}" for b in busy)
        for thread in busy:
            descriptor = real_socket_wait(thread.native_id)
            if descriptor is not None:
                # A real client or server beside the simulated network: no verdict, not a
                # finding (on the stock loop the other end would have been real too).
                self.refuse(UnsupportedInSimulation(
                    "a real socket in another thread",
                    f"thread {thread.name} waits at {thread.where} in a system call on a real "
                    f"socket (fd {descriptor}), which nothing in the simulated network answers; "
                    "run this test on the stock loop"))
                break
        if stuck:
            raise RunAborted("timeout", f"outside work did not settle within "
                             f"{self._settle_timeout_s:g} s wall time: {'; '.join(stuck)}")

    def _decide(self, options: list[Option], released: Sequence[Any] = ()) -> int:
        if self.history is not None and self._observe_state is not None:
            # Folded here, not per step: a list append is all a step pays.
            self._digest = fold_steps(self._digest, self.history)
            self.history.clear()
            held = None if self._held_back_since is None else self.steps - self._held_back_since
            self._observe_state(decision_state(self._digest, self._now, held, [h.key for h in released]))
        chosen = self._choose(options)
        if not 0 <= chosen < len(options):
            raise RunAborted("exception", f"strategy chose option {chosen} of {len(options)}")
        self.decisions.append(Decision(chosen, len(options), fingerprint(o.key for o in options)))
        if self._observer is not None:
            self._observer.on_decision(self.steps, options, chosen, self._now)
        return chosen

    def _preemptive_select(self) -> list[Any]:
        """Preemptive mode (opt-in): any ready callback or outside event may run next, alone."""
        ready = self._ready
        queued = [h for h in ready if not h._cancelled]
        heads = self._pending.heads(self._now)
        count = len(queued) + len(heads)
        if count == 0:
            self._let_time_pass()
            return []
        chosen = 0
        if count > 1:
            options = [self._ready_option(h) for h in queued]
            options.extend(Option(h.key, h.kind, h.label) for h in heads)
            chosen = self._decide(options)
        ready.clear()
        if chosen < len(queued):
            handle = queued.pop(chosen)
            self._stash = queued
            ready.append(handle)
            released = []
        else:
            handle = heads[chosen - len(queued)]
            self._pending.remove(handle)
            self._stash = queued
            released = [handle]
        if count > 1:
            handle.decision = len(self.decisions)
        return released

    def _ready_option(self, handle: asyncio.Handle) -> Option:
        task = getattr(handle._callback, "__self__", None)
        if isinstance(task, asyncio.Task):
            return Option(f"task:{task.get_name()}", "ready", f"{task.get_name()} resumes")
        name = describe_callback(handle)
        return Option(f"callback:{name}", "ready", name)

    # ----- steps (counted in `StepHandle._run`) ---------------------------------------
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
    def default_exception_handler(self, context: dict[str, Any]) -> None:
        # Only asyncio's default changes here (its call_exception_handler stays asyncio's,
        # so a handler the user sets, or a mock patched over the method, sees every
        # report as on the stock loop). An error in a callback is the run's finding
        # instead of a log line. A future's or task's report comes from garbage
        # collection ("exception was never retrieved", "destroyed but it is pending"):
        # logged as on the stock loop; a task's unretrieved exception is also the run's
        # finding (then said once by the finding, not logged on every schedule).
        error = context.get("exception")
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            return  # an interrupt of the run itself: the caller reports it (asyncio.run retrieves it too)
        if "task" in context or "future" in context:
            task = context.get("future")  # a task's unretrieved exception is reported as a future's
            if (isinstance(task, asyncio.Task) and task.get_loop() is self and error is not None
                    and str(context.get("message", "")).endswith("exception was never retrieved")):
                self._collected_unretrieved.append((task, error))
                if self.unretrieved_is_finding:
                    return
            super().default_exception_handler(context)
            return
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
        found = list(self._collected_unretrieved)
        self._collected_unretrieved.clear()
        for task in self.tasks:
            if task.done() and not task.cancelled() and task._log_traceback:
                task._log_traceback = False
                error = task.exception()
                if error is not None:
                    found.append((task, error))
        found.sort(key=lambda item: getattr(item[0], "_sim_number", 0))
        return found

    def quiesce(self, max_rounds: int = 1_000) -> None:
        """After the scenario returned: deliver what is in flight, in the default order,
        without letting time pass, so a task that a pending delivery would finish (a
        handler awaiting `wait_closed()`) is not mistaken for a leak."""
        self._quiescing = True
        for source in self._sources:
            # A source may end what only lasts while the scenario runs (a network peer that
            # a fault stopped from reading reads again), so its in-flight work is delivered too.
            returned = getattr(source, "scenario_returned", None)
            if returned is not None:
                returned()
        try:
            for _ in range(max_rounds):
                if not self._ready and not self._pending:
                    break
                self._stopping = False
                self.call_soon(self.stop)
                self.run_forever()
        finally:
            self._quiescing = False

    def drain(self, max_rounds: int = 1_000) -> None:
        """Cancel what is left and run until nothing remains (no decisions, no detectors)."""
        self.draining = True
        self._preemptive = False
        if self._stash:
            self._ready.extendleft(reversed(self._stash))
            self._stash = []
        for task in self.tasks:
            if not task.done():
                task.cancel()
        for _ in range(max_rounds):
            if not self._ready and not self._pending:
                live = [timer for timer in self._scheduled
                        if not timer._cancelled and math.isfinite(timer._when)]
                if not live or all(t.done() for t in self.tasks):
                    break
                # Only a timer can move what is left (a cancelled task sleeping in its
                # clean-up): jump to it, since the stop callback below keeps the ready
                # queue from ever being empty inside run_forever.
                self._set_clock(round(min(live)._when * _NS))
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


def _sim_eager_factory(loop: ControlledLoop, coro: Any, *, name: str | None = None,
                       context: Any = None) -> asyncio.Task[Any]:
    return loop._new_task(coro, name, context, eager=sys.version_info >= (3, 12))


def describe_callback(handle: asyncio.Handle) -> str:
    """A stable, address-free name for a plain callback."""
    callback = handle._callback
    return getattr(callback, "__qualname__", None) or type(callback).__name__


__all__ = ["ControlledLoop", "ExternalSource", "RunAborted", "SimFuture", "SimTask", "StepObserver",
           "await_point", "describe_await", "describe_callback"]
