"""Eager task factories (3.12+) run first steps inline but cannot bypass control."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.strategies import FifoStrategy
from simharness import ExploreOptions, explore_variant, replay

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories exist from 3.12")
SCENARIO = sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "eager.py")[0]


def test_eager_tasks_are_controlled_and_replay_exactly() -> None:
    exploration = explore_variant(SCENARIO, "default", ExploreOptions(strategy="dfs", runs=100))
    assert exploration.failure is not None and "read" in exploration.failure.message
    again = replay(SCENARIO, "default", exploration.failure.schedule)
    assert again.trace_hash == exploration.failure.trace_hash
    fifo = sh.run_strategy(SCENARIO, "default", FifoStrategy())
    assert fifo.failure is None  # the race needs a's checkpoint to be slow
    assert exploration.failure.run_index > 1
    assert sh.check_determinism(SCENARIO, "default", exploration.failure.schedule).deterministic
