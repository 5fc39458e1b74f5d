"""anyio TaskGroup.start(): a shutdown that lands before the child runs turns into a RuntimeError.

Bug: agronholm/anyio#706, fixed by PR #707 (commit e024e920) "Fix task_status future to
prevent erroneous RuntimeError", released in anyio 4.4.0 ("Fixed erroneous
``RuntimeError: called 'started' twice on the same task status`` when cancelling a task
in a TaskGroup created with the ``start()`` method before the first checkpoint is
reached after calling ``task_status.started()``"); buggy release: 4.3.0.

`TaskGroup.start()` waits on a future that the child resolves with
`task_status.started()`. If the group is cancelled after `start()` began waiting but
before the child's first step, the waiting future is cancelled; the child then calls
`started()`, setting a cancelled future raises, and anyio reported it as "called
'started' twice": a clean shutdown ends in an ExceptionGroup.

The real timing: a service finishes loading its configuration and starts its listener
with `tg.start()`; a shutdown request (an outside event) cancels the service's task
group in the same loop cycle. Oracle: shutdown is clean (no exception).
"""

from __future__ import annotations

import asyncio

import anyio
from anyio.abc import TaskStatus

import simharness as sh


@sh.scenario
async def anyio_start_cancelled_before_started() -> None:
    async def listener(*, task_status: TaskStatus[None]) -> None:
        task_status.started()  # ready at once, then serve until shut down
        await anyio.Event().wait()

    async def service() -> None:
        async with anyio.create_task_group() as group:

            async def shutdown_watch() -> None:
                await sh.checkpoint("a shutdown request arrives")
                group.cancel_scope.cancel()

            group.start_soon(shutdown_watch)
            await sh.checkpoint("the configuration is loaded")
            await group.start(listener)
            await anyio.Event().wait()  # serve until shut down

    await service()
