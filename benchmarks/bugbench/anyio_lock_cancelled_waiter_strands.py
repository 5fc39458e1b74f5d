"""anyio Lock: a cancelled waiter left queued by `release()` strands the next acquirer forever.

Bug: agronholm/anyio PR #1145 "Fix asyncio lock waiter deadlocks after cancellation"
(commit f8b9f011), released in anyio 4.14.0; buggy release: 4.13.0.

On asyncio, `Lock.release()` skipped a waiter whose future was cancelled but left it in
the queue, and set the owner to None. A task that then called `acquire()` saw a
non-empty queue, queued itself behind the dead entry and waited; the cancelled waiter
only removed itself when it ran, without waking anyone: the lock is free and nobody
ever gets it.

The real timing: a worker runs two requests in a row under the lock; a client's handler
waits for the lock and is cancelled when the client disconnects (as aiohttp and
starlette cancel handlers). The worker's reply and the disconnect arrive in the same
loop cycle, the reply first. Oracle: everything finishes (a deadlock is the bug).
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh


@sh.scenario
async def anyio_lock_cancelled_waiter_strands() -> None:
    lock = anyio.Lock()
    outside: list[asyncio.Task[None]] = []
    handler_waiting = asyncio.Event()

    async def request(label: str) -> None:
        # A reply produced by another task after an outside operation of unknown duration.
        reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def backend() -> None:
            await sh.checkpoint(label)
            if not reply.done():
                reply.set_result(None)

        outside.append(asyncio.create_task(backend()))
        await reply

    async def worker() -> None:
        for number in range(2):
            async with lock:
                if number == 0:
                    await handler_waiting.wait()
                await request(f"worker's request {number}")

    async def handler() -> None:
        async with lock:
            await request("handler's request")

    worker_task = asyncio.create_task(worker())
    await asyncio.sleep(0)  # the worker takes the lock first
    handler_task = asyncio.create_task(handler())
    while lock.statistics().tasks_waiting < 1:
        await asyncio.sleep(0)
    handler_waiting.set()

    async def disconnect_watch() -> None:
        await sh.checkpoint("client disconnects")
        handler_task.cancel()

    outside.append(asyncio.create_task(disconnect_watch()))
    await worker_task
    await asyncio.gather(handler_task, return_exceptions=True)
    await asyncio.gather(*outside)
