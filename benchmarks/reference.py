"""The reference workload of the engine benchmarks: 5 tasks x 10 awaits.

Each task mixes `asyncio.sleep(0)`, an `asyncio.Lock` and an `asyncio.Event`, the
workload FINDINGS.md measured baselines on. Declared as a scenario so the same code
runs on the stock loop and under simharness.
"""

from __future__ import annotations

import asyncio

import simharness as sh


async def workload() -> int:
    lock = asyncio.Lock()
    event = asyncio.Event()
    counter = [0]

    async def worker(n: int) -> None:
        for i in range(10):
            kind = (n + i) % 3
            if kind == 0:
                await asyncio.sleep(0)
            elif kind == 1:
                async with lock:
                    counter[0] += 1
            else:
                if n == 0 and i == 2:
                    event.set()
                else:
                    await asyncio.sleep(0)
                    if i > 5:
                        await event.wait()

    await asyncio.gather(*(worker(n) for n in range(5)))
    return counter[0]


@sh.scenario(name="reference-workload")
async def reference_workload() -> None:
    await workload()
