"""async-lru: an entry evicted while its call is still running leaves that caller waiting forever.

Bug: aio-libs/async-lru#480 "`KeyError` is raised while using both: TTL and maxsize
params", fixed in async-lru 2.0.3 ("Fixed a ``KeyError`` that could occur when using
``ttl`` with ``maxsize``"); buggy release: 2.0.2.

With `ttl` set, the done callback of a cached call looked its entry up to arm the expiry
timer. If a call for another key had evicted the entry (maxsize) while the first call
was still running, the lookup raised `KeyError` inside the callback, which therefore
never resolved the future the first caller awaits: that caller hangs.

The real timing: two requests for different keys share a cache of one entry; the second
request arrives before the first one's lookup has answered. Oracle: both callers get
their value.
"""

from __future__ import annotations

import asyncio

from async_lru import alru_cache

import simharness as sh


@sh.scenario
async def async_lru_evicted_while_pending() -> None:
    @alru_cache(maxsize=1, ttl=60)
    async def profile(user: str) -> str:
        await sh.checkpoint(f"the profile service answers for {user}")
        return f"profile of {user}"

    async def request(user: str, arrival: str) -> str:
        await sh.checkpoint(arrival)
        return await profile(user)

    results = await asyncio.gather(request("ann", "ann's request arrives"),
                                   request("bob", "bob's request arrives"))
    assert results == ["profile of ann", "profile of bob"], results
    await profile.cache_close()
