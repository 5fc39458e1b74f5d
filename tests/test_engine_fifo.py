"""FIFO simulation reproduces the stock loop's order exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import simharness as sh
from simharness.strategies import FifoStrategy

FIXTURE = Path(__file__).parent / "fixtures" / "engine" / "orders.py"
SCENARIOS = {s.name: s for s in sh.load_file(FIXTURE)}
MODULE = __import__("sys").modules[SCENARIOS["locks-events-queues"].function.__module__]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fifo_trace_equals_stock_loop(name: str) -> None:
    stock = asyncio.run(MODULE.WORKLOADS[name]())
    result = sh.run_strategy(SCENARIOS[name], "default", FifoStrategy())
    assert result.failure is None
    assert MODULE.LOGS[name] == stock


def test_fifo_run_is_the_all_default_schedule() -> None:
    scenario = SCENARIOS["timers-and-timeouts"]
    result = sh.run_strategy(scenario, "default", FifoStrategy())
    assert all(d.index == 0 for d in result.schedule.decisions)
    assert sh.replay(scenario, "default", result.schedule).trace_hash == result.trace_hash
