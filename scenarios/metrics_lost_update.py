"""metrics-lost-update: a read, an await, then a write of a shared counter loses increments.

Seed: 000_62378e3dea7156f6.txt, section 3.3 ("Provider Metrics Corruption":
`self.metrics.requests_made += 1` on one provider shared by every parallel test, "if 5
tests run, requests_made might be 3 instead of 5").

Intermittent, as in the seed ("might be 3 instead of 5"): the tests reach their metered
request one after another, so in the default order (the stock run) each request's
write lands before the next one's read; an update is lost only when an MCP call is slow
enough for the next test's request to read the counter in between.

Oracle: after every request has returned, `requests_made` equals the number of requests
and `total_latency_ms` is the sum of their latencies.

The honest result, checked by exhaustive exploration: the seed's line as written, a plain
`+=` with no await between the read and the write (variant `plain-increment`), cannot
lose an update on one event loop, because a coroutine only yields at an await. Updates
are lost when the read and the write are separated by an await (variant `buggy`: the
provider snapshots the metrics, awaits the MCP call, then writes the snapshot plus one),
and are safe again under an `asyncio.Lock` (variant `fixed`). Across real threads even
the plain form loses updates: see `metrics_lost_update_threads.py` (real backend only).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import simharness as sh

REQUESTS = 3


@dataclass
class ProviderMetrics:
    """Counters one provider keeps for all the tests that share it."""

    requests_made: int = 0
    total_latency_ms: float = 0.0
    error_count: int = 0


class MCPProvider:
    """The buggy provider: reads the counters before the request, writes them after it."""

    def __init__(self) -> None:
        self.metrics = ProviderMetrics()

    async def _call_server(self, message: str) -> str:
        await sh.checkpoint("MCP request")  # the network round trip
        return f"reply to {message}"

    async def send_message(self, message: str) -> str:
        start = time.monotonic()
        requests_made = self.metrics.requests_made  # read ...
        reply = await self._call_server(message)     # ... await ...
        self.metrics.requests_made = requests_made + 1  # ... write: lost update
        self.metrics.total_latency_ms += (time.monotonic() - start) * 1000
        return reply


class PlainIncrementProvider(MCPProvider):
    """The seed's line as written: `+=` after the await, nothing awaited in between."""

    async def send_message(self, message: str) -> str:
        start = time.monotonic()
        reply = await self._call_server(message)
        self.metrics.requests_made += 1
        self.metrics.total_latency_ms += (time.monotonic() - start) * 1000
        return reply


class LockedMetricsProvider(MCPProvider):
    """The fix for code that must keep the await inside: an `asyncio.Lock` around it."""

    def __init__(self) -> None:
        super().__init__()
        self._metrics_lock = asyncio.Lock()

    async def send_message(self, message: str) -> str:
        async with self._metrics_lock:
            return await super().send_message(message)


@sh.scenario(
    variants={"buggy": MCPProvider, "fixed": LockedMetricsProvider, "plain-increment": PlainIncrementProvider},
    expect={"buggy": "fail", "fixed": "pass", "plain-increment": "pass"},
    bug={"kind": "assertion", "message": "lost update: requests_made is"})
async def metrics_lost_update(provider_cls: type[MCPProvider]) -> None:
    """`REQUESTS` parallel tests share one provider; every request must be counted."""
    provider = provider_cls()

    async def test(number: int) -> str:
        # Tests run at different speeds (the seed: "tests have different execution
        # speeds"): test N does N turns of its own conversation before the metered request,
        # so the requests usually follow each other; a slow MCP call makes them overlap.
        for turn in range(number):
            await sh.checkpoint(f"test-{number} conversation turn {turn + 1}")
        return await provider.send_message(f"test-{number}")

    replies = await asyncio.gather(*(test(i) for i in range(REQUESTS)))
    assert len(replies) == REQUESTS
    assert provider.metrics.requests_made == REQUESTS, (
        f"lost update: requests_made is {provider.metrics.requests_made} after {REQUESTS} requests")
