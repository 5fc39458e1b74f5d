"""anyio memory object stream: an item handed to a receiver whose cancellation is pending is lost.

Bug: agronholm/anyio#728, fixed by PR #735 (commit e7f750b9) "Fixed memory object stream
sometimes dropping sent items", released in anyio 4.4.0; buggy release: 4.3.0.

`send_nowait()` gave the item straight to the first waiting receiver. If that
receiver's cancel scope had been cancelled but the task had not run yet, it woke with
the cancellation and the item it had been handed was dropped.

The real timing: two consumers read a stream of jobs; one consumer's client goes away
(its cancel scope is cancelled) in the same loop cycle as a job arrives. Oracle: every
job sent is received by some consumer.
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh

JOBS = 2


@sh.scenario
async def anyio_memory_stream_item_to_cancelled() -> None:
    send, receive = anyio.create_memory_object_stream[str](max_buffer_size=JOBS)
    received: list[str] = []
    scopes = [anyio.CancelScope(), anyio.CancelScope()]

    async def consumer(scope: anyio.CancelScope) -> None:
        with scope:
            async for job in receive:
                received.append(job)

    async def producer() -> None:
        for number in range(JOBS):
            await sh.checkpoint(f"job {number} arrives")
            send.send_nowait(f"job {number}")
        send.close()

    async def disconnect_watch() -> None:
        await sh.checkpoint("the first consumer's client disconnects")
        scopes[0].cancel()

    consumers = [asyncio.create_task(consumer(scope)) for scope in scopes]
    while receive.statistics().tasks_waiting_receive < 2:
        await asyncio.sleep(0)
    await asyncio.gather(producer(), disconnect_watch())
    await asyncio.gather(*consumers)
    assert sorted(received) == [f"job {n}" for n in range(JOBS)], f"received {received} of {JOBS} jobs"
