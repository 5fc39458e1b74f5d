"""anyio CapacityLimiter: a newcomer slips in while the freed token is on its way to a waiter.

Bug: agronholm/anyio#1170 "CapacityLimiter can over-grant tokens (`borrowed_tokens >
total_tokens`, `available_tokens` goes negative)", fixed by PR #1172 (commit 6bbc6c33),
released in anyio 4.14.2; buggy release: 4.14.1.

On asyncio, `release()` set the next waiter's event but only counted the token as
borrowed when that waiter resumed. A task acquiring in between saw a free token and an
empty queue and took it too: two tasks inside a limiter of one.

The real timing: a worker finishes its request and releases the limiter; in the same
loop cycle a new request arrives and acquires the limiter, before the waiting worker
resumes. Oracle: never more than one task inside the limiter.
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh


@sh.scenario
async def anyio_limiter_overgrant() -> None:
    limiter = anyio.CapacityLimiter(1)
    inside: list[str] = []
    outside: list[asyncio.Task[None]] = []

    async def request(label: str) -> None:
        # A reply produced by another task after an outside operation of unknown duration.
        reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def backend() -> None:
            await sh.checkpoint(label)
            reply.set_result(None)

        outside.append(asyncio.create_task(backend()))
        await reply

    async def worker(name: str) -> None:
        async with limiter:
            inside.append(name)
            assert len(inside) <= 1, f"{inside} are inside a CapacityLimiter(1) together"
            await request(f"{name}'s request")
            inside.remove(name)

    async def late_worker() -> None:
        await sh.checkpoint("a new request arrives")
        await worker("newcomer")

    first = asyncio.create_task(worker("first"))
    second = asyncio.create_task(worker("second"))
    while limiter.statistics().tasks_waiting < 1:
        await asyncio.sleep(0)
    newcomer = asyncio.create_task(late_worker())
    await asyncio.gather(first, second, newcomer)
    await asyncio.gather(*outside)
