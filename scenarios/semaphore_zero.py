"""semaphore-zero: `--concurrency 0` builds `asyncio.Semaphore(0)` and every flow waits forever.

Seed: 001_15ce1f2008a29817.txt, round-5 finding "[MAJOR] --concurrency 0 (or negative)
creates asyncio.Semaphore(0), deadlocking all flows indefinitely" (cli.py:354,
parallel.py `dispatch_run_set` / `load_run_set`); fix: validate `>= 1` in
`dispatch_run_set`, the earliest place the value is consumed.

Oracle: the run set finishes with one result per flow. With the buggy code no flow can
ever acquire the semaphore, nothing is pending, and simharness reports kind `deadlock`
listing each blocked flow task (on plain `asyncio.run` it hangs: that is the bug). The
fixed code rejects 0 with a clear `RunSetError` and then runs with a validated value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import simharness as sh


class RunSetError(Exception):
    """A run-set configuration error, shown to the operator as one line."""


@dataclass
class FlowDispatchResult:
    """What one flow of a run set produced."""

    slug: str
    exit_code: int
    error: str | None = None


def no_validation(concurrency: int) -> int:
    """The buggy CLI path: `type=int, default=None` accepts any integer."""
    return concurrency


def validate_concurrency(concurrency: int) -> int:
    """The fix: reject values below 1 before a semaphore is built."""
    if concurrency < 1:
        raise RunSetError(f"concurrency must be >= 1, got {concurrency}")
    return concurrency


async def _run_one(slug: str, semaphore: asyncio.Semaphore) -> FlowDispatchResult:
    async with semaphore:
        # The flow's child process runs here (a slow operation the test does not control).
        await sh.checkpoint(f"flow {slug} subprocess")
        return FlowDispatchResult(slug, exit_code=0)


async def dispatch_run_set(slugs: list[str], concurrency: int,
                           validate: Callable[[int], int]) -> list[FlowDispatchResult]:
    """Run every flow under a semaphore of `concurrency` slots."""
    concurrency = validate(concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    return list(await asyncio.gather(*(_run_one(slug, semaphore) for slug in slugs),
                                     return_exceptions=False))


@sh.scenario(variants={"buggy": no_validation, "fixed": validate_concurrency},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "deadlock", "message": "__aenter__"},
             deterministic=True)  # Semaphore(0) never lets a flow in
async def semaphore_zero(validate: Callable[[int], int]) -> None:
    """The operator passes `--concurrency 0`; every flow must still get a result."""
    slugs = ["login", "checkout", "search"]
    try:
        results = await dispatch_run_set(slugs, 0, validate)
    except RunSetError as error:
        # The fixed path: a clear one-line error instead of a hang; the operator
        # re-runs with a valid value.
        assert "concurrency must be >= 1" in str(error)
        results = await dispatch_run_set(slugs, 2, validate)
    assert [r.slug for r in results] == slugs, f"missing flow results: {results}"
