"""Ordering guarantees of stock asyncio hold on the controlled loop under every explored order.

Each guarantee (tests/fixtures/engine/guarantees.py) is first checked on the stock
loop with the real clock, repeated, so the test states a fact about asyncio and not
about simharness; then 2,000 random and 2,000 PCT schedules explore it on the
controlled loop. A failure here is a false alarm the tool would report on correct
code: the worst defect it can have.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import simharness as sh
from simharness import ExploreOptions, explore_variant
from simharness.engine.strategies import FifoStrategy

FIXTURE = Path(__file__).parent / "fixtures" / "engine" / "guarantees.py"
GUARANTEES = {s.name: s for s in sh.load_file(FIXTURE)}
STOCK_RUNS = 10
#: Schedules per strategy (issue 14: at least 2,000 random and 2,000 pct); the test
#: script lowers it to 500 on the secondary interpreters.
SCHEDULES = int(os.environ.get("SIMHARNESS_GUARANTEE_SCHEDULES", "2000"))
#: Guarantees whose runs take real time (a thread's time.sleep, 20-60 ms; a child
#: process) get a twentieth of the schedules: their few outside events have few orders.
REAL_TIME_TAKERS = frozenset({"a-timeout-around-a-sleeping-thread-expires",
                              "a-sleep-takes-its-time-in-a-thread-and-on-the-loop",
                              "a-childs-exit-is-reported-before-its-connection-ends"})


def test_every_guarantee_is_collected() -> None:
    assert len(GUARANTEES) >= 15
    assert REAL_TIME_TAKERS <= GUARANTEES.keys()


@pytest.mark.parametrize("name", sorted(GUARANTEES))
def test_guarantee_holds_on_the_stock_loop(name: str) -> None:
    for _ in range(STOCK_RUNS):
        asyncio.run(GUARANTEES[name].coroutine("default"))


@pytest.mark.parametrize("name", sorted(GUARANTEES))
def test_guarantee_gives_the_explorer_choices(name: str) -> None:
    # The noise must reach the decision point, or exploring would check nothing.
    result = sh.run_strategy(GUARANTEES[name], "default", FifoStrategy())
    assert result.failure is None, result.failure
    assert result.schedule.length >= 4


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("name", sorted(GUARANTEES))
def test_guarantee_holds_under_exploration(name: str, strategy: str) -> None:
    runs = max(1, SCHEDULES // 20) if name in REAL_TIME_TAKERS else SCHEDULES
    exploration = explore_variant(GUARANTEES[name], "default",
                                  ExploreOptions(strategy=strategy, runs=runs, seed=7))
    assert exploration.failure is None, (exploration.failure.message, exploration.failure.schedule)
    assert exploration.runs == runs
