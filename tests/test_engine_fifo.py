"""FIFO simulation reproduces the stock loop's order exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import FifoStrategy

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
    detection = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "detection.py")}
    scenario = detection["semaphore-workers"]  # checkpoints and timers: real decisions
    result = sh.run_strategy(scenario, "default", FifoStrategy())
    assert result.schedule.deviations == 0 and result.schedule.length > 0
    assert result.schedule.encode().count("-") == 2  # only a tail: count and digest
    assert sh.replay(scenario, "default", result.schedule).trace_hash == result.trace_hash
