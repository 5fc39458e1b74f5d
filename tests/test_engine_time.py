"""Virtual time: clocks follow the loop; timers fire in deadline order, equal deadlines in registration order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import FifoStrategy
from simharness import ExploreOptions, explore_variant, replay

FIXTURE = Path(__file__).parent / "fixtures" / "engine" / "timing.py"
SCENARIOS = {s.name: s for s in sh.load_file(FIXTURE)}


def test_hour_long_sleep_is_virtual_for_every_clock() -> None:
    exploration = explore_variant(SCENARIOS["hour-long-sleep"], "default", ExploreOptions(strategy="fifo"))
    assert exploration.failure is None
    result = sh.run_strategy(SCENARIOS["hour-long-sleep"], "default", FifoStrategy())
    assert result.virtual_time == 3600


def _stock_outcome(name: str) -> str:
    """The scenario's outcome on the stock loop with the real clock: "pass" or the message."""
    try:
        asyncio.run(SCENARIOS[name].coroutine("default"))
    except AssertionError as error:
        return str(error)
    return "pass"


@pytest.mark.parametrize("strategy", ["dfs", "random", "pct"])
def test_equal_delays_fire_in_registration_order(strategy: str) -> None:
    # Two sleep(1) started one after the other: on a real clock the second deadline is
    # later, so they always wake in order. (An earlier rule explored both orders: wrong.)
    assert _stock_outcome("same-instant-timers") == "pass"
    exploration = explore_variant(SCENARIOS["same-instant-timers"], "default",
                                  ExploreOptions(strategy=strategy, runs=300))
    assert exploration.failure is None


@pytest.mark.parametrize("strategy", ["dfs", "random", "pct"])
def test_wakeup_and_timeout_at_equal_delays_follow_the_stock_loop(strategy: str) -> None:
    # call_later(1, set_result) then wait_for(future, 1): which wins is decided by
    # asyncio's own code of this Python version (3.11 wakes, 3.12+ times out), never by
    # the explorer: every schedule gives the stock loop's outcome.
    stock = _stock_outcome("woken-then-timed-out")
    exploration = explore_variant(SCENARIOS["woken-then-timed-out"], "default",
                                  ExploreOptions(strategy=strategy, runs=300))
    simulated = "pass" if exploration.failure is None else exploration.failure.message
    assert (stock == "pass") == (exploration.failure is None), (stock, simulated)
    if stock != "pass":
        assert exploration.failure is not None and stock in exploration.failure.message
        assert exploration.failure.run_index == 1


def test_timers_at_distinct_instants_are_never_reordered() -> None:
    exploration = explore_variant(SCENARIOS["distinct-deadlines"], "default", ExploreOptions(strategy="dfs", runs=100))
    assert exploration.failure is None and exploration.exhausted


def test_other_threads_and_the_caller_keep_the_real_clock() -> None:
    import time

    readings: list[float] = []
    exploration = explore_variant(SCENARIOS["helper-thread-sees-real-time"], "default",
                                  ExploreOptions(strategy="random", runs=3),
                                  progress=lambda *_: readings.append(time.monotonic()))
    assert exploration.failure is None, exploration.failure
    # A progress callback runs between runs: it reads the real clock (each run takes a
    # real 0.05 s sleep in its helper thread), not the frozen virtual one.
    assert len(readings) >= 2 and readings[-1] - readings[0] >= 0.04, readings
    # The caller's clock is real once the exploration is over and between its runs.
    before = time.monotonic()
    time.sleep(0.01)
    assert time.monotonic() - before >= 0.009
