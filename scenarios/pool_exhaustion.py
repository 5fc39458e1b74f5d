"""pool-exhaustion: unbounded parallelism exhausts a fixed-size connection pool.

Seed: ../shared/seeds/002_c8f9ea50bfbd3a4d.txt, "Agents Failing", cause 2 "Resource
exhaustion" ("Too many agents running simultaneously exhaust system resources.
Solution: Reduce batch size"; also "Performance Not Improving", cause 5).

Six operations each borrow a connection from a pool of two, run a query (an
uncontrolled wait, `sh.checkpoint()`, plus the query's duration), and give the
connection back. The pool lets a borrower wait `POOL_TIMEOUT_S` for a free connection,
then raises "pool exhausted", like SQLAlchemy's `pool_timeout`. Launching all twelve at
once (the bug) queues four of them on the pool; the third wave would wait longer than
the pool's timeout. The fix bounds concurrency to the pool size with a semaphore, so no
operation ever waits on the pool itself.

Durations are seconds scaled down (20 ms queries, 30 ms pool timeout) so a real run is
short; in simulation they are virtual and cost nothing.

Oracle: no operation fails with pool exhaustion.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import simharness as sh

POOL_SIZE = 2
OPERATIONS = 6
QUERY_S = 0.02
POOL_TIMEOUT_S = 0.03

Limiter = Callable[[], AbstractAsyncContextManager[None]]


class PoolExhausted(Exception):
    """No connection became free within the pool's timeout."""


class ConnectionPool:
    """A fixed-size pool: borrowers wait up to `timeout_s`, then fail."""

    def __init__(self, size: int, timeout_s: float) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for connection in range(size):
            self._free.put_nowait(connection)

    async def acquire(self) -> int:
        try:
            return await asyncio.wait_for(self._free.get(), self.timeout_s)
        except asyncio.TimeoutError:
            raise PoolExhausted(f"pool exhausted: all {self.size} connections in use "
                                f"for {self.timeout_s:g} s") from None

    def release(self, connection: int) -> None:
        self._free.put_nowait(connection)


async def query(pool: ConnectionPool, number: int) -> str:
    """One operation: borrow a connection, run a query, give it back."""
    connection = await pool.acquire()
    try:
        await sh.checkpoint(f"query {number} on connection {connection}")
        await asyncio.sleep(QUERY_S)
        return f"row {number}"
    finally:
        pool.release(connection)


def unbounded() -> Limiter:
    """The bug: launch every operation at once."""

    @asynccontextmanager
    async def limit() -> AsyncIterator[None]:
        yield

    return limit


def bounded_to_pool() -> Limiter:
    """The fix: at most POOL_SIZE operations in flight (the seed's smaller batches)."""
    semaphore = asyncio.Semaphore(POOL_SIZE)

    @asynccontextmanager
    async def limit() -> AsyncIterator[None]:
        async with semaphore:
            yield

    return limit


async def limited_query(pool: ConnectionPool, number: int, limit: Limiter) -> str:
    async with limit():
        return await query(pool, number)


@sh.scenario(variants={"buggy": unbounded, "fixed": bounded_to_pool},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "pool exhausted"},
             deterministic=True)  # unbounded queries on a pool of two always outwait its timeout
async def pool_exhaustion(make_limiter: Callable[[], Limiter]) -> None:
    """Run six queries against a pool of two; none may fail with pool exhaustion."""
    pool = ConnectionPool(POOL_SIZE, POOL_TIMEOUT_S)
    limit = make_limiter()
    outcomes = await asyncio.gather(*(limited_query(pool, n, limit) for n in range(OPERATIONS)),
                                    return_exceptions=True)
    exhausted = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, PoolExhausted)]
    unexpected = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, PoolExhausted)]
    if unexpected:
        raise unexpected[0]
    assert not exhausted, (f"pool exhausted: {len(exhausted)} of {OPERATIONS} operations failed "
                           f"(operations {exhausted}) with a pool of {POOL_SIZE} connections")
