"""Thread work in simulation: to_thread results are schedulable, in-flight work freezes the clock.

The scenarios live in this file; a fresh interpreter loads it as a scenario file to
check that a schedule replays with the same trace hash in another process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import simharness as sh
from simharness import ExploreOptions, explore_variant
from simharness.scenario import scenario_of
from simharness.engine.strategies import FifoStrategy

from replay_helpers import replay_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent
#: Completion order seen by `two-thread-results`, per run (read by the tests in this process).
COMPLETIONS: list[tuple[str, ...]] = []


@sh.scenario
async def two_thread_results() -> None:
    """Two to_thread calls; whichever result the loop takes first is awaited first."""
    def work(name: str) -> str:
        time.sleep(0.002)  # real work that releases the GIL
        return name

    # Tasks, not bare coroutines: as_completed puts what it gets in a set, and a set of
    # coroutines iterates in address order (tasks of the controlled loop hash by number).
    tasks = [asyncio.create_task(asyncio.to_thread(work, name)) for name in ("a", "b")]
    seen: list[str] = []
    for next_done in asyncio.as_completed(tasks):
        seen.append(await next_done)
    COMPLETIONS.append(tuple(seen))


@sh.scenario
async def quick_thread_results() -> None:
    """Work so short that the thread may finish before asyncio attaches its callback."""
    def work(name: str) -> str:
        time.sleep(0)
        return name

    tasks = [asyncio.create_task(asyncio.to_thread(work, name)) for name in ("a", "b")]
    seen = [await f for f in asyncio.as_completed(tasks)]
    assert sorted(seen) == ["a", "b"]


@sh.scenario
async def slow_thread_outlasts_its_timeout() -> None:
    """A thread that sleeps 0.2 s inside a 0.1 s timeout: the timeout expires, as on the
    stock loop (a thread's time.sleep takes its time on the virtual clock too)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.2), 0.1)
    except asyncio.TimeoutError:
        pass
    else:
        raise AssertionError("a 0.2 s thread finished within a 0.1 s timeout")
    assert loop.time() - start >= 0.1


@sh.scenario
async def worker_thread_posts_back() -> None:
    """A scenario's own thread waits on an Event (parked) and posts results threadsafe."""
    loop = asyncio.get_running_loop()
    go = threading.Event()
    results: asyncio.Queue[int] = asyncio.Queue()
    start = loop.time()

    def worker() -> None:
        for round_ in range(3):
            go.wait()
            go.clear()
            time.sleep(0.01)
            loop.call_soon_threadsafe(results.put_nowait, round_)

    thread = threading.Thread(target=worker, name="poster", daemon=True)
    thread.start()
    got = []
    for _ in range(3):
        go.set()
        got.append(await asyncio.wait_for(results.get(), 1))
    thread.join()
    # Three 0.01 s sleeps, one after another, before the three posts.
    assert got == [0, 1, 2] and loop.time() - start >= 0.03, (got, loop.time() - start)


def _replay_in_fresh_process(name: str, schedule: str) -> str:
    return replay_in_fresh_process(__file__, name, schedule, hash_seed="99")


def test_to_thread_results_are_reordered_by_the_explorer_and_fifo_is_stable() -> None:
    scenario = scenario_of(two_thread_results)
    COMPLETIONS.clear()
    fifo = [sh.run_strategy(scenario, "default", FifoStrategy()) for _ in range(5)]
    assert COMPLETIONS == [("a", "b")] * 5
    assert len({(r.trace_hash, r.schedule.encode()) for r in fifo}) == 1
    COMPLETIONS.clear()
    exploration = explore_variant(scenario, "default", ExploreOptions(strategy="dfs", runs=20))
    assert exploration.failure is None
    assert set(COMPLETIONS) == {("a", "b"), ("b", "a")}
    assert _replay_in_fresh_process("two-thread-results", fifo[0].schedule.encode()) == fifo[0].trace_hash


def test_thread_that_finishes_before_the_loop_looks_gives_the_same_trace() -> None:
    # Whether the thread beats `run_in_executor` to its done-callback must not show.
    scenario = scenario_of(quick_thread_results)
    runs = [sh.run_strategy(scenario, "default", FifoStrategy()) for _ in range(60)]
    assert len({(r.trace_hash, r.schedule.encode()) for r in runs}) == 1


def test_a_slow_thread_outlasts_its_timeout_as_on_the_stock_loop() -> None:
    asyncio.run(scenario_of(slow_thread_outlasts_its_timeout).coroutine("default"))  # stock loop first
    result = sh.run_strategy(scenario_of(slow_thread_outlasts_its_timeout), "default", FifoStrategy())
    assert result.failure is None, result.failure
    assert result.virtual_time >= 0.1


def test_scenario_thread_posting_threadsafe_is_waited_for_and_replays() -> None:
    asyncio.run(scenario_of(worker_thread_posts_back).coroutine("default"))  # stock loop first
    result = sh.run_strategy(scenario_of(worker_thread_posts_back), "default", FifoStrategy())
    assert result.failure is None, result.failure
    assert _replay_in_fresh_process("worker-thread-posts-back", result.schedule.encode()) == result.trace_hash


@sh.scenario
async def loop_thread_waits_for_a_helper() -> None:
    """The loop thread blocks briefly on a threading.Event that a helper thread sets after a
    real 0.05 s wait with a monotonic deadline (as on the stock loop: no blocked-loop)."""
    released = threading.Event()

    def helper() -> None:
        deadline = time.monotonic() + 0.05  # the helper thread's clock is the real one
        while time.monotonic() < deadline:
            time.sleep(0.005)
        released.set()

    thread = threading.Thread(target=helper, name="helper")
    thread.start()
    assert released.wait(timeout=5.0), "the helper never released the loop thread"
    await asyncio.sleep(0)
    thread.join()


def test_loop_thread_waiting_on_a_helper_thread_is_not_a_blocked_loop() -> None:
    scenario = scenario_of(loop_thread_waits_for_a_helper)
    assert asyncio.run(scenario.coroutine("default")) is None  # the stock loop first
    exploration = explore_variant(scenario, "default", ExploreOptions(strategy="random", runs=5))
    assert exploration.failure is None, exploration.failure


@sh.scenario
async def pool_worker_runs_its_own_loop() -> None:
    """asgiref's async_to_sync from a worker thread: the thread submits asyncio.run to a
    new single-worker pool and waits; its result comes back once that loop finished."""

    async def inner() -> int:
        await asyncio.sleep(0)
        return 42

    def work() -> int:
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            return pool.submit(asyncio.run, inner()).result()
        finally:
            pool.shutdown()

    assert await asyncio.to_thread(work) == 42


def test_a_new_pool_worker_is_waited_for_even_under_an_old_threads_ident() -> None:
    # Each run's pool worker exits and the next run's new one often gets its ident: it
    # was taken for a thread older than the run and not waited for (a false deadlock,
    # about one run in twenty).
    asyncio.run(scenario_of(pool_worker_runs_its_own_loop).coroutine("default"))  # stock loop first
    exploration = sh.explore_variant(scenario_of(pool_worker_runs_its_own_loop), "default",
                                     sh.ExploreOptions(strategy="random", runs=200, seed=3, shrink=False),
                                     store=None)
    assert exploration.failure is None, exploration.failure
