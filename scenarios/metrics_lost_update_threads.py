"""metrics-lost-update-threads: the seed's plain counter update, from real OS threads.

Seed: 000_62378e3dea7156f6.txt, section 3.3 ("Provider Metrics Corruption"). Companion
of `metrics_lost_update.py`, whose exhaustive exploration shows that on one event loop an
update with no await between its read and its write is never lost.

Across threads it is: here the provider's counter is updated from worker threads (as when
the provider's calls run through `asyncio.to_thread`), with a read, a small computation
and a write, while `sys.setswitchinterval` is made tiny so the interpreter switches
threads often. Oracle: `requests_made` equals the number of requests. The lost update
depends on OS thread switches, which simharness does not control, so this scenario is
declared `backends=("real",)`: explore and replay refuse it rather than pass vacuously,
and `simharness stress` runs it. The failure is probabilistic: the measured rate is in
docs/fragments/catalogue-part2a.md.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass

import simharness as sh

THREADS = 4
REQUESTS_PER_THREAD = 2_000


@dataclass
class ProviderMetrics:
    """Counters one provider keeps for all the tests that share it."""

    requests_made: int = 0


class ThreadedProvider:
    """The bug: an unlocked read-modify-write of a counter shared by threads."""

    def __init__(self) -> None:
        self.metrics = ProviderMetrics()

    def record_request(self) -> None:
        requests_made = self.metrics.requests_made
        _latency_bucket(requests_made)  # a little work between the read and the write
        self.metrics.requests_made = requests_made + 1


class LockedThreadedProvider(ThreadedProvider):
    """The fix across threads: a `threading.Lock` (never held across an await)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def record_request(self) -> None:
        with self._lock:
            super().record_request()


def _latency_bucket(count: int) -> int:
    # A function call gives the interpreter a place to switch threads mid-update.
    return count % 7


def _worker(provider: ThreadedProvider) -> None:
    for _ in range(REQUESTS_PER_THREAD):
        provider.record_request()


@sh.scenario(variants={"buggy": ThreadedProvider, "fixed": LockedThreadedProvider},
             expect={"buggy": "fail", "fixed": "pass"}, backends=("real",),
             bug={"kind": "assertion", "message": "lost update across threads"})
async def metrics_lost_update_threads(provider_cls: type[ThreadedProvider]) -> None:
    """`THREADS` worker threads record requests on one provider; none may be lost."""
    provider = provider_cls()
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        await asyncio.gather(*(asyncio.to_thread(_worker, provider) for _ in range(THREADS)))
    finally:
        sys.setswitchinterval(previous)
    expected = THREADS * REQUESTS_PER_THREAD
    assert provider.metrics.requests_made == expected, (
        f"lost update across threads: requests_made is {provider.metrics.requests_made} "
        f"after {expected} requests")
