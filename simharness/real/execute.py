"""One real run: `concurrency` copies of a scenario variant at once on a fresh real loop.

Each copy gets its own `RealRunContext` (noise, invariants) through the `real_run`
context variable, so tasks a copy spawns inherit it. The run's outcome is the first
failing copy's, classified into the contract's failure kinds the way the simulated
backend does it: invariant, assertion, exception, task-exception (an exception nobody
retrieved), timeout (still pending at the soft deadline), blocked-loop (the watchdog
interrupted a synchronous wait), leak (tasks still pending after every copy returned).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simharness.api import InvariantViolation, RealRunContext, real_run
from simharness.engine.realtime import perf_counter
from simharness.scenario import Scenario
from simharness.engine.watchdog import LoopInterrupted
from simharness.real.loopwatch import LoopWatch

_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
#: How long closing a run's loop may take (cancelled tasks, async generators, executor).
_CLOSE_BUDGET_S = 2.0
#: Characters of a failure's traceback kept in the run log.
_TRACEBACK_LIMIT = 20_000


@dataclass(frozen=True)
class CopiesOutcome:
    """The classified outcome of one real run (all copies)."""

    kind: str | None
    message: str
    duration_s: float
    failed_copies: int
    retire: bool  # the loop was interrupted mid-callback: do not trust this process again
    traceback: str = ""  # the failing exception's traceback as Python prints it (reproduce reads it)


def describe_exception(error: BaseException) -> str:
    """`Type: message (at file.py:LINE)`, the innermost frame, like the simulated backend."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = str(error)
    return f"{type(error).__name__}: {text}{where}" if text else f"{type(error).__name__}{where}"


def format_traceback(error: BaseException) -> str:
    """The exception as Python prints it, chained causes included; a huge one keeps its end (the raise)."""
    text = "".join(traceback.format_exception(error))
    return text if len(text) <= _TRACEBACK_LIMIT else "...\n" + text[-_TRACEBACK_LIMIT:]


def classify(error: BaseException) -> str:
    """The failure kind of an exception a copy raised."""
    if isinstance(error, InvariantViolation):
        return "invariant"
    if isinstance(error, AssertionError):
        return "assertion"
    return "exception"


def describe_task(task: asyncio.Task[Any]) -> str:
    """`name at file:line` of the innermost await of a pending task."""
    coro: Any = task.get_coro()
    frame = None
    while coro is not None:  # follow the await chain down to the user frame that waits
        inner = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if inner is not None and not inner.f_code.co_filename.startswith(_ASYNCIO_DIR):
            frame = inner
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if frame is not None:
        return f"{task.get_name()} at {frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
    return task.get_name()


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh stock asyncio loop, or a uvloop loop."""
    if kind == "uvloop":
        import uvloop  # optional dependency, checked by the stress options
        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    return asyncio.new_event_loop()


_warmed: set[str] = set()


def warm_up(kind: str) -> None:
    """Create the process-wide resources a loop kind keeps for good, before any baseline.

    uvloop's first loop opens a wakeup pipe and libuv starts its thread pool on the first
    resolver call; both stay for the life of the process. Without this, the first run of
    a worker would be blamed for them as leaks.
    """
    if kind in _warmed:
        return
    loop = new_loop(kind)
    try:
        async def touch() -> None:
            await asyncio.sleep(0.001)
            await loop.getaddrinfo("127.0.0.1", 0)
            await loop.run_in_executor(None, lambda: None)

        loop.run_until_complete(touch())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    _warmed.add(kind)


async def _copies(scenario: Scenario, variant: str, contexts: list[RealRunContext],
                  soft_timeout_s: float) -> tuple[list[BaseException | None], str | None, str | None]:
    """Run the copies; return per-copy errors, a timeout message and a leak message."""

    async def one(context: RealRunContext) -> None:
        real_run.set(context)
        await scenario.coroutine(variant)
        context.check_invariants()

    tasks = [asyncio.ensure_future(one(c)) for c in contexts]
    for index, task in enumerate(tasks):
        task.set_name(f"copy-{index + 1}")
    done, pending = await asyncio.wait(tasks, timeout=soft_timeout_s)
    timeout = None
    if pending:
        # The scenario's own tasks say where it hangs; our copy wrappers only await them.
        stuck = [t for t in asyncio.all_tasks()
                 if not t.done() and t is not asyncio.current_task() and t not in tasks] or list(pending)
        names = "; ".join(describe_task(t) for t in stuck[:8])
        timeout = (f"{len(pending)} of {len(tasks)} copies still running after {soft_timeout_s:g} s: "
                   f"{names}")
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1.0)
    errors: list[BaseException | None] = []
    for task in tasks:
        if not task.done() or task.cancelled():
            errors.append(None)
        else:
            errors.append(task.exception())
    leak = None
    if timeout is None:
        await asyncio.sleep(0)  # let callbacks the scenario queued on return run first
        left = [t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()]
        if left:
            leak = (f"{len(left)} task(s) still pending when the scenario returned: "
                    + "; ".join(describe_task(t) for t in left[:8]))
    return errors, timeout, leak


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel leftovers, shut down generators and the default executor, close the loop."""
    try:
        left = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left, timeout=_CLOSE_BUDGET_S))
        loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), _CLOSE_BUDGET_S))
        loop.run_until_complete(asyncio.wait_for(loop.shutdown_default_executor(), _CLOSE_BUDGET_S))
    except (Exception, LoopInterrupted):
        pass  # whatever is still running is reported by the leak check
    finally:
        asyncio.set_event_loop(None)
        if not loop.is_running():
            loop.close()


def run_copies(scenario: Scenario, variant: str, *, concurrency: int, noise: float, seed: int,
               loop_kind: str, soft_timeout_s: float, blocked_loop_s: float,
               watch: LoopWatch, delays: Mapping[str, float] | None = None) -> CopiesOutcome:
    """Run `concurrency` copies of the variant at once on a fresh real loop, once.

    `delays` makes named checkpoints take that long (a found failure's timing,
    `explore/timing.py`); the others behave as without it.
    """
    warm_up(loop_kind)
    loop = new_loop(loop_kind)
    asyncio.set_event_loop(loop)
    handler_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: handler_errors.append(context))
    contexts = [RealRunContext(noise=noise, rng=random.Random(seed * 1009 + i), delays=dict(delays or {}))
                for i in range(concurrency)]
    started = perf_counter()
    watch.attach(loop, blocked_loop_s)
    errors: list[BaseException | None] = []
    timeout = leak = None
    try:
        errors, timeout, leak = loop.run_until_complete(
            _copies(scenario, variant, contexts, soft_timeout_s))
    except LoopInterrupted:
        pass  # the watchdog's message says where; see `watch.fired` below
    finally:
        duration = perf_counter() - started
    # The interrupted wait raises inside a task, which stores the exception: whether the
    # scenario re-raised, wrapped or swallowed it, the watchdog's flag is the truth.
    interrupted = watch.fired
    if interrupted is None:
        _close(loop)  # still watched: cancelling a task may block on the same lock again
        interrupted = watch.fired
    else:
        loop.close()
        asyncio.set_event_loop(None)
    watch.detach()
    del contexts
    gc.collect()  # "Task exception was never retrieved" is reported when the task is collected
    failed = [e for e in errors if e is not None]
    if interrupted is not None:
        return CopiesOutcome("blocked-loop", interrupted, duration, concurrency, retire=True)
    if failed:
        first = failed[0]
        return CopiesOutcome(classify(first), describe_exception(first), duration, len(failed), False,
                             format_traceback(first))
    if timeout is not None:
        return CopiesOutcome("timeout", timeout, duration, concurrency, False)
    for context in handler_errors:
        error = context.get("exception")
        if error is not None and "never retrieved" in str(context.get("message", "")):
            return CopiesOutcome("task-exception", f"a task died with {describe_exception(error)} "
                                 "and nobody retrieved it", duration, 1, False, format_traceback(error))
    for context in handler_errors:
        error = context.get("exception")
        if error is not None:
            return CopiesOutcome("exception", f"{context.get('message', 'callback failed')}: "
                                 f"{describe_exception(error)}", duration, 1, False, format_traceback(error))
    if leak is not None:
        return CopiesOutcome("leak", leak, duration, 1, False)
    return CopiesOutcome(None, "", duration, 0, False)
