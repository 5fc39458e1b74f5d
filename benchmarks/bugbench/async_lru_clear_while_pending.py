"""async-lru: `cache_clear()` while a call is running leaves that caller waiting forever.

Bug: aio-libs/async-lru#503 "Error when the cache is cleared before the done callback is
called", fixed by PR #506 in async-lru 2.0.4 ("Fixed an error when there are pending
tasks while calling ``.cache_clear()``"); buggy release: 2.0.3.

`cache_clear()` emptied the set of running tasks; when a running call then finished, its
done callback removed its task from that set, raised `KeyError`, and never resolved the
future its caller awaits: the caller hangs.

The real timing: a request is being served from the cache while a configuration reload
(an outside event) clears the cache. Oracle: the request gets its value.
"""

from __future__ import annotations

import asyncio

from async_lru import alru_cache

import simharness as sh


@sh.scenario
async def async_lru_clear_while_pending() -> None:
    @alru_cache(maxsize=16)
    async def settings(name: str) -> str:
        await sh.checkpoint(f"the settings store answers for {name}")
        return f"value of {name}"

    async def reload() -> None:
        await sh.checkpoint("a configuration reload arrives")
        settings.cache_clear()

    value, _ = await asyncio.gather(settings("timeout"), reload())
    assert value == "value of timeout", value
    await settings.cache_close()
