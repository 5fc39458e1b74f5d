"""janus: `async_q.join()` spins forever on a stale "all done" signal from a worker thread.

Bug: aio-libs/janus#715 "Hang in `AsyncQueue.join()`", fixed by PR #716 "Fix
notifications" (commit a85cc40, an `asyncio.Condition` instead of an `asyncio.Event`),
released in janus 1.2.0; buggy release: 1.1.0.

`sync_q.task_done()` that brought the unfinished count to zero posted
`_finished.set()` with `call_soon_threadsafe`. If the loop put a new item before that
post ran (`put` clears the event), the late `set()` left the event set while an item was
unfinished, and `async_q.join()` (`while unfinished: await finished.wait()`) looped
without ever yielding: the event loop is blocked for as long as the item stays
unfinished, here forever, since the worker needs the loop to finish it.

The real timing: a worker thread processes jobs from the queue and, for each, asks the
loop to record the result (`run_coroutine_threadsafe`); the loop puts the second job
before the thread's "all done" post for the first arrives. Oracle: the loop is never
blocked (the watchdog reports a blocked loop after `blocked_loop_s`).
"""

from __future__ import annotations

import asyncio

import janus

import simharness as sh


@sh.scenario(blocked_loop_s=2.0)
async def janus_join_spins_on_stale_finished() -> None:
    loop = asyncio.get_running_loop()
    queue: janus.Queue[int] = janus.Queue()
    recorded: list[int] = []

    async def record(job: int) -> None:
        recorded.append(job)

    def worker() -> None:
        for _ in range(2):
            job = queue.sync_q.get()
            asyncio.run_coroutine_threadsafe(record(job), loop).result()
            queue.sync_q.task_done()

    thread_done = loop.run_in_executor(None, worker)
    await queue.async_q.put(1)
    await sh.checkpoint("the second job comes in")
    await queue.async_q.put(2)
    await queue.async_q.join()
    await thread_done
    assert recorded == [1, 2], recorded
    queue.close()
    await queue.wait_closed()
