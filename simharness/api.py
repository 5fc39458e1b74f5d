"""What scenario code calls: `checkpoint()` and `invariant()`, on either backend.

In simulation both talk to the running `ControlledLoop`. On the real runtime a
checkpoint yields to the loop (plus optional random noise, see `real_backend`), and
invariants are checked at every checkpoint and when the scenario returns.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simharness.engine.loop import ControlledLoop


@dataclass
class RealRunContext:
    """Per-run state of a scenario on the real runtime (set by the real backend)."""

    noise: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    invariants: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)
    # `confirm` and stress under a found timing: how long the n-th checkpoint of a site
    # takes ("site#n" -> seconds); the others yield once, as without a plan.
    delays: Mapping[str, float] = field(default_factory=dict)
    _posted: dict[str, int] = field(default_factory=dict)

    def delay_for(self, site: str) -> float | None:
        """The planned duration of this checkpoint (the next of `site`), None if unplanned."""
        number = self._posted[site] = self._posted.get(site, 0) + 1
        return self.delays.get(f"{site}#{number}")

    def check_invariants(self) -> None:
        for name, check in self.invariants:
            try:
                result = check()
            except Exception as error:
                raise InvariantViolation(f"invariant {name!r} raised {type(error).__name__}: {error}") from error
            if result is not None and not result:
                raise InvariantViolation(f"invariant {name!r} violated")


class InvariantViolation(AssertionError):
    """Raised on the real runtime when a registered invariant does not hold."""


#: The real-backend run the current task belongs to (None in simulation or outside runs).
real_run: contextvars.ContextVar[RealRunContext | None] = contextvars.ContextVar("simharness_real_run", default=None)

#: In simulation, told of every checkpoint as it is posted: (task name, site). Set by
#: the timing analysis (`explore/timing.py`), which names checkpoints the way the real
#: backend counts them.
checkpoint_posted: contextvars.ContextVar[Callable[[str, str], None] | None] = contextvars.ContextVar(
    "simharness_checkpoint_posted", default=None)


def checkpoint_site(label: str | None, depth: int = 2) -> str:
    """What names a checkpoint on both backends: its label, else `file.py:LINE` of its await."""
    if label:
        return label
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"


def _caller_label(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return f"checkpoint at {frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"


async def checkpoint(label: str | None = None) -> None:
    """An await whose duration the test does not control (a network call, a slow query).

    In simulation the explorer may delay its continuation past any other runnable
    work; on the real runtime it yields once, sleeping a little with the configured
    noise probability.
    """
    loop = asyncio.get_running_loop()
    if isinstance(loop, ControlledLoop):
        posted = checkpoint_posted.get()
        if posted is not None:
            task = asyncio.current_task()
            posted(task.get_name() if task else "", checkpoint_site(label))
        await loop.checkpoint(label or _caller_label())
        return
    context = real_run.get()
    if context is not None:
        context.check_invariants()
        if context.delays:
            delay = context.delay_for(checkpoint_site(label))
            if delay is not None:
                await asyncio.sleep(delay)
                return
        if context.noise and context.rng.random() < context.noise:
            await asyncio.sleep(context.rng.uniform(0.0001, 0.002))
            return
    await asyncio.sleep(0)


def invariant(check: Callable[[], Any], name: str | None = None) -> None:
    """Register `check` for the current run: it must hold after every scheduling step.

    A result of False (or any falsy value other than None) or an exception fails the
    run with kind `invariant`. Checks run between steps, outside any task.
    """
    label = name or getattr(check, "__name__", "invariant")
    loop = asyncio.get_running_loop()
    if isinstance(loop, ControlledLoop):
        loop.invariants.append((label, check))
        return
    context = real_run.get()
    if context is not None:
        context.invariants.append((label, check))
