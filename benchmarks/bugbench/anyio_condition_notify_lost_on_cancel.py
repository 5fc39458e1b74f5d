"""anyio Condition: a waiter cancelled after being notified swallows the notification.

Bug: agronholm/anyio#1075, fixed by commit 9369d80b "Fixed Condition.wait() not handing
over notification when cancelled", released in anyio 4.13.0; buggy release: 4.12.1.

`Condition.notify(1)` sets the event of the first waiter. If that waiter is cancelled
before it runs, `wait()` raises without passing the notification on, so the item the
producer announced waits for a notification that never comes while another consumer
sleeps next to it.

The real timing: two consumers wait for items; one of them belongs to a client that
disconnects (its cancel scope is cancelled, as a task group cancels its children). The item arrives and the
disconnect is processed in the same loop cycle. Oracle: the item is taken (a deadlock
with the item still queued is the bug).
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh


@sh.scenario
async def anyio_condition_notify_lost_on_cancel() -> None:
    condition = anyio.Condition()
    items: list[str] = []
    taken = asyncio.Event()

    scopes = [anyio.CancelScope(), anyio.CancelScope()]

    async def consumer(scope: anyio.CancelScope) -> None:
        with scope:  # cancelled the anyio way when the consumer's client goes away
            async with condition:
                while not items:
                    await condition.wait()
                items.pop()
            taken.set()

    async def producer() -> None:
        await sh.checkpoint("the item arrives")
        async with condition:
            items.append("item")
            condition.notify(1)

    first = asyncio.create_task(consumer(scopes[0]))
    second = asyncio.create_task(consumer(scopes[1]))
    while condition.statistics().tasks_waiting < 2:
        await asyncio.sleep(0)

    async def disconnect_watch() -> None:
        await sh.checkpoint("the first consumer's client disconnects")
        scopes[0].cancel()

    outside = [asyncio.create_task(producer()), asyncio.create_task(disconnect_watch())]
    await asyncio.gather(*outside)
    await taken.wait()
    for scope in scopes:
        scope.cancel()
    await asyncio.gather(first, second)
