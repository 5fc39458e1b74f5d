"""Virtual time: clocks follow the loop, timers due together are explored in both orders."""

from __future__ import annotations

from pathlib import Path

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


def test_timers_due_at_the_same_instant_run_in_both_orders() -> None:
    exploration = explore_variant(SCENARIOS["same-instant-timers"], "default", ExploreOptions(strategy="dfs", runs=50))
    assert exploration.failure is not None
    assert "['b', 'a']" in exploration.failure.message
    fifo = explore_variant(SCENARIOS["same-instant-timers"], "default", ExploreOptions(strategy="fifo"))
    assert fifo.failure is None  # the default order is creation order


def test_wakeup_and_timeout_in_the_same_instant_is_found() -> None:
    exploration = explore_variant(SCENARIOS["woken-then-timed-out"], "default", ExploreOptions(strategy="dfs", runs=50))
    assert exploration.failure is not None and "got timeout" in exploration.failure.message
    again = replay(SCENARIOS["woken-then-timed-out"], "default", exploration.failure.schedule)
    assert again.trace_hash == exploration.failure.trace_hash


def test_timers_at_distinct_instants_are_never_reordered() -> None:
    exploration = explore_variant(SCENARIOS["distinct-deadlines"], "default", ExploreOptions(strategy="dfs", runs=100))
    assert exploration.failure is None and exploration.exhausted
