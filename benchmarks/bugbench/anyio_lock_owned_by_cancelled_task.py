"""anyio Lock: a waiter cancelled just as the lock is handed to it keeps the lock forever.

Bug: agronholm/anyio#387 "Potential race condition in `Lock`", fixed by PR #388
"Fixed race condition when cancelling acquire() in Lock or Semaphore", released in anyio
3.4.0; buggy release: 3.3.4. (Reported from production through httpx, whose
connection pool uses anyio locks: "a lock instance gets stuck in the locked state with a
finished task still set as the owner".)

`release()` made the first waiter the owner and set its event. If that waiter had been
cancelled before it ran, `acquire()` re-raised the cancellation without releasing: the
lock stayed owned by a task that had left.

The real timing: a worker holds the lock during a request; a client's handler waits for
the lock and is cancelled when its client disconnects. The disconnect and the worker's
reply arrive in the same loop cycle. Oracle: the lock is free afterwards (taking it
must not hang).
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh


@sh.scenario
async def anyio_lock_owned_by_cancelled_task() -> None:
    lock = anyio.Lock()
    outside: list[asyncio.Task[None]] = []

    async def request(label: str) -> None:
        # A reply produced by another task after an outside operation of unknown duration.
        reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def backend() -> None:
            await sh.checkpoint(label)
            if not reply.done():  # the requester may have been cancelled meanwhile
                reply.set_result(None)

        outside.append(asyncio.create_task(backend()))
        await reply

    async def worker() -> None:
        async with lock:
            await request("worker's request")

    async def handler() -> None:
        async with lock:
            await request("handler's request")

    worker_task = asyncio.create_task(worker())
    await asyncio.sleep(0)  # the worker takes the lock first
    handler_task = asyncio.create_task(handler())
    while lock.statistics().tasks_waiting < 1:
        await asyncio.sleep(0)

    async def disconnect_watch() -> None:
        await sh.checkpoint("the handler's client disconnects")
        handler_task.cancel()

    outside.append(asyncio.create_task(disconnect_watch()))
    await worker_task
    await asyncio.gather(handler_task, return_exceptions=True)
    await asyncio.gather(*outside)
    async with lock:  # the next user of the lock
        pass
