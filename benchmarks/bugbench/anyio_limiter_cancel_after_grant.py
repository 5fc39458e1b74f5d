"""anyio CapacityLimiter: a waiter cancelled after it was granted the token loses the token.

Bug: agronholm/anyio#947 "asyncio `CapacityLimiter` lost token on cancellation", fixed by
PR #952 (commit 19e54772) in anyio 4.10.0; buggy release: 4.9.0.

The asyncio backend's `acquire_on_behalf_of` waits on an event; `release()` pops the next
waiter's event and sets it. If that waiter's native cancellation (here its
`asyncio.timeout_at`) is already on its way when the event is set, it leaves with
`CancelledError` without taking the token and without passing it on: every later
waiter waits forever.

The real timing: two requests share one deadline. The first holds the limiter while its
outside operation runs; when that operation outlasts the deadline, both timeouts fire in
the same loop cycle, the holder releases the token to the second (already cancelled)
one, and the third worker, which has no deadline, is never let in.
Oracle: every worker finishes or gives up (a deadlock is the bug).
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh


@sh.scenario
async def anyio_limiter_cancel_after_grant() -> None:
    limiter = anyio.CapacityLimiter(1)
    finished: list[str] = []
    queued = asyncio.Event()
    serving: list[asyncio.Task[None]] = []
    deadline = asyncio.get_running_loop().time() + 1.0

    async def request(name: str) -> str:
        # A request answered by another task (a connection's reader) after an outside
        # operation of unknown duration; the worker awaits a plain future, as it would
        # await a reply on a real client.
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def backend() -> None:
            await sh.checkpoint(f"server handles {name}'s request")
            if not reply.done():
                reply.set_result("ok")

        serving.append(asyncio.create_task(backend()))
        return await reply

    async def with_deadline(name: str) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                async with limiter:
                    await queued.wait()  # the request starts once every worker is in line
                    await request(name)
            finished.append(name)
        except TimeoutError:
            finished.append(f"{name} gave up")

    async def without_deadline() -> None:
        async with limiter:
            await request("last")
        finished.append("last")

    tasks = [asyncio.create_task(with_deadline("first")), asyncio.create_task(with_deadline("second")),
             asyncio.create_task(without_deadline())]
    while limiter.statistics().tasks_waiting < 2:
        await asyncio.sleep(0)
    queued.set()
    await asyncio.gather(*tasks)
    await asyncio.gather(*serving)
    assert len(finished) == 3, finished
