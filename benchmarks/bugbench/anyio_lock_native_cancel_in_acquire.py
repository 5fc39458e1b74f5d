"""anyio Lock: a native cancellation during the uncontended acquire leaves the lock held.

Bug: agronholm/anyio#398 "Fixed synchronization primitives not being released on native
asyncio cancel during __aenter__()", fixed by PR #399, released in anyio 3.5.0 ("Fixed
deadlock in synchronization primitives on asyncio which can happen if a task acquiring a
primitive is hit with a native (not AnyIO) cancellation with just the right timing,
leaving the next acquiring task waiting forever"); buggy release: 3.4.0.

An uncontended `acquire()` took the lock and then yielded once (a cancel-shielded
checkpoint, shielded only from anyio cancel scopes). A native `Task.cancel()` landing on
that yield raised out of `acquire()` with the lock taken, so `async with` never
released it.

The real timing: a request arrives and its handler takes the free lock; the client
disconnects and the framework cancels the handler in the same loop cycle. Oracle: the
lock is free afterwards (taking it must not hang).
"""

from __future__ import annotations

import asyncio

import anyio

import simharness as sh


@sh.scenario
async def anyio_lock_native_cancel_in_acquire() -> None:
    lock = anyio.Lock()
    served: list[str] = []

    async def handler() -> None:
        await sh.checkpoint("the request arrives")
        async with lock:
            served.append("request")

    handler_task = asyncio.create_task(handler())

    async def disconnect_watch() -> None:
        await sh.checkpoint("the client disconnects")
        handler_task.cancel()

    watcher = asyncio.create_task(disconnect_watch())
    await asyncio.gather(handler_task, return_exceptions=True)
    await watcher
    async with lock:  # the next request's handler
        served.append("next request")
