"""The objects the controlled loop creates: address-free futures, tasks and event handles.

`SimFuture` and `SimTask` hash by creation number, so sets of them (TaskGroup's
tasks, `asyncio.wait`'s done set) iterate in the same order in every process.
Timers and outside-world events carry the key, kind and label they are offered
to strategies with.
"""

from __future__ import annotations

import asyncio
from typing import Any


class SimFuture(asyncio.Future):  # type: ignore[type-arg]
    """A Future whose hash is its creation number, so sets of futures iterate reproducibly."""

    __slots__ = ("_sim_number",)

    def __init__(self, *, loop: asyncio.AbstractEventLoop, sim_number: int) -> None:
        self._sim_number = sim_number
        super().__init__(loop=loop)

    def __hash__(self) -> int:
        return self._sim_number


class SimTask(asyncio.Task):  # type: ignore[type-arg]
    """A Task with a creation-number hash (TaskGroup and `asyncio.wait` iterate sets of tasks)."""

    __slots__ = ("_sim_number",)

    def __init__(self, coro: Any, *, loop: asyncio.AbstractEventLoop, name: str,
                 context: Any, sim_number: int, eager_start: bool = False) -> None:
        self._sim_number = sim_number
        if eager_start:
            super().__init__(coro, loop=loop, name=name, context=context, eager_start=True)
        else:
            super().__init__(coro, loop=loop, name=name, context=context)

    def __hash__(self) -> int:
        return self._sim_number


# Named as asyncio's own classes, so reprs and garbage-collection reports ("Task exception
# was never retrieved", `<Task pending name=...>`) read exactly as on the stock loop.
SimFuture.__name__ = "Future"
SimTask.__name__ = "Task"


class SimTimer(asyncio.TimerHandle):
    """A timer that knows its creation number and creator, to be offered as an option."""

    __slots__ = ("key", "kind", "label", "decision")


class EventHandle(asyncio.Handle):
    """A callback the outside world delivers (I/O, thread result, checkpoint, child exit)."""

    # `decision` is the 1-based decision that released it, or None (single option).
    __slots__ = ("key", "kind", "label", "decision")


def resolve_future(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)
