"""Defects of simharness found by real projects' own test suites (benchmarks/real_suites.py).

Each test mirrors, without the project, what the project's test did, checks it on the
stock loop first (so it states a fact about asyncio), then on the controlled loop.
"""

from __future__ import annotations

import _thread
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import FifoStrategy
from simharness.scenario import scenario_of

#: aiometer 1.0.0's rate limiter (GCRA): the next start is the last start plus 1/rate, in floats.
RATES = (5, 10, 20, 30, 40, 50, 70, 100)


async def start_at_rate(per_second: float, starts: int = 3) -> list[float]:
    """Start `starts` tasks no faster than `per_second`, sleeping until each one's start time."""
    loop = asyncio.get_running_loop()
    period = 1 / per_second
    next_start, started = 0.0, []
    for _ in range(starts):
        while True:
            now = loop.time()
            until = max(next_start, now) - now
            if until <= 0:
                break
            await asyncio.sleep(until)  # wakes at the deadline or a hair before it
        started.append(loop.time())
        next_start = max(next_start, loop.time()) + period
    return started


@sh.scenario(max_steps=5_000)
async def rate_limited_starts() -> None:
    for rate in RATES:
        started = await start_at_rate(rate)
        gaps = [b - a for a, b in zip(started, started[1:])]
        assert all(gap >= 1 / rate - 1e-6 for gap in gaps), (rate, gaps)


def test_a_sleep_until_a_float_deadline_ends_on_the_stock_loop() -> None:
    asyncio.run(rate_limited_starts())


def test_a_sleep_until_a_float_deadline_ends_on_the_controlled_loop() -> None:
    # The virtual clock stepped to the deadline rounded to the nearest nanosecond, which
    # may lie below the float deadline; the loop woke the timer (it is within the clock's
    # resolution), the code slept again for the sub-nanosecond rest, and the clock never
    # moved: a busy loop reported as `timeout` (aiometer's TestMaxPerSecond at 30 and 70
    # per second). A real clock always moves on, so the virtual one must reach the deadline.
    result = sh.run_strategy(scenario_of(rate_limited_starts), "default", FifoStrategy())
    assert result.failure is None, result.failure


# ----- through the pytest plugin -------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "plugin"))
from pytester_helpers import prepare, run  # noqa: E402

pytest_plugins = ["pytester"]

#: aiosmtplib 5.1.3's session-scoped certificate fixtures (trustme -> cryptography): the
#: X.509 builder looks `datetime.datetime` up on first use and keeps it, then checks the
#: type of every datetime it gets at the C level (no __instancecheck__), as below.
CACHED_CLASS_SUITE = '''
import asyncio
import datetime
import importlib

import pytest

_CLASS = []
NOT_AFTER = datetime.datetime(3000, 1, 1)  # made at import, before any clock is frozen (trustme's expiry)


def sign(not_before):
    if not _CLASS:
        _CLASS.append(getattr(importlib.import_module("datetime"), "datetime"))
    if _CLASS[0] not in type(not_before).__mro__:
        raise TypeError(f"'{type(not_before).__name__}' object is not an instance of '{_CLASS[0].__name__}'")
    return "certificate"


@pytest.fixture(scope="session")
def certificate():
    return sign(NOT_AFTER)


@pytest.mark.asyncio
async def test_uses_the_certificate(certificate):
    await asyncio.sleep(1)
    assert certificate == "certificate"


@pytest.mark.asyncio
async def test_signs_again(certificate):
    assert sign(NOT_AFTER) == "certificate"
'''


def test_a_class_cached_by_a_wider_scoped_fixture_is_the_real_datetime(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    tester = prepare(pytester, monkeypatch)
    tester.makepyfile(test_cached=CACHED_CLASS_SUITE)
    run(tester, "-p", "no:simharness").assert_outcomes(passed=2)  # the stock loop
    run(tester, "--sim", "--sim-seed", "1", "--sim-runs", "3").assert_outcomes(passed=2)


# ----- a thread pool made before the run ------------------------------------------------------
#: asgiref 3.13.0's `SyncToAsync.single_thread_executor`: one pool for the whole process, whose
#: worker thread the first test starts; every later test's work runs on that older thread.
POOL = ThreadPoolExecutor(max_workers=1)


def slow_answer() -> int:
    time.sleep(0.05)  # real work, in the pool's thread
    return 42


@sh.scenario
async def work_on_an_older_pool() -> None:
    answer = await asyncio.get_running_loop().run_in_executor(POOL, slow_answer)
    assert answer == 42


def test_work_on_a_pool_made_before_the_run_is_waited_for() -> None:
    asyncio.run(work_on_an_older_pool())  # the stock loop; it also starts the pool's worker thread
    # The worker existed before the controlled run, so it was not watched: its work looked
    # like nothing pending, and the run ended as a false `deadlock` (asgiref's sync_to_async).
    for strategy in ("fifo", "random"):
        exploration = sh.explore_variant(scenario_of(work_on_an_older_pool), "default",
                                         sh.ExploreOptions(strategy=strategy, runs=5, seed=3))
        assert exploration.failure is None, exploration.failure


@sh.scenario(settle_timeout_s=2.0)
async def work_beside_a_stuck_older_pool() -> None:
    answer = await asyncio.get_running_loop().run_in_executor(POOL, slow_answer)
    assert answer == 42


def test_a_pool_worker_stuck_before_the_run_is_not_waited_for() -> None:
    # asgiref's test_sync_to_async_with_blocker_non_thread_sensitive leaves a worker blocked
    # in C (a multiprocessing Event) when it fails; the runs after it must not wait for it.
    stuck_pool, gate = ThreadPoolExecutor(max_workers=1), _thread.allocate_lock()
    gate.acquire()
    stuck_pool.submit(gate.acquire)  # blocks in C until released below
    try:
        result = sh.run_strategy(scenario_of(work_beside_a_stuck_older_pool), "default", FifoStrategy())
        assert result.failure is None, result.failure
    finally:
        gate.release()
        stuck_pool.shutdown()


# ----- R5: a synchronous wait with a wall-clock deadline on the loop's thread -------------------
#: janus 2.0.0's SyncQueue.put/get(timeout=...) called from the loop's thread (its
#: test_sync.py::TestQueue::test_simple_queue): docs/fidelity.md, R5.
TIMED_WAIT_SUITE = '''
import threading
from time import monotonic  # bound at import, as janus does (freezegun replaces it)

import pytest

changed = threading.Condition()


def wait_for(predicate, timeout):
    deadline = monotonic() + timeout
    with changed:
        while not predicate():
            remaining = deadline - monotonic()
            if remaining <= 0:
                return False
            changed.wait(remaining)
    return True


@pytest.mark.asyncio
async def test_a_timed_wait_in_the_loop_thread_times_out():
    assert wait_for(lambda: False, timeout=0.01) is False
'''


def test_a_timed_wait_with_a_wall_clock_deadline_on_the_loop_thread_times_out(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    tester = prepare(pytester, monkeypatch)
    tester.makepyfile(test_timed=TIMED_WAIT_SUITE)
    tester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    run(tester, "-p", "no:simharness").assert_outcomes(passed=1)  # the stock loop
    # --sim-timeout 2 also lowers the blocked-loop watchdog to 2 s (the defect's symptom).
    run(tester, "--sim", "--sim-seed", "1", "--sim-runs", "1", "--sim-timeout", "2").assert_outcomes(passed=1)
