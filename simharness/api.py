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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simharness.engine.loop import ControlledLoop


@dataclass
class RealRunContext:
    """Per-run state of a scenario on the real runtime (set by the real backend)."""

    noise: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    invariants: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

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
        await loop.checkpoint(label or _caller_label())
        return
    context = real_run.get()
    if context is not None:
        context.check_invariants()
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
