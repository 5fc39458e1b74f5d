"""simharness: reproducible concurrency bugs for asyncio code.

Declare scenarios with `@scenario`, mark uncontrolled awaits with `checkpoint()`,
state invariants with `invariant()`, and explore or replay them with `explore()` and
`replay()` (or the `simharness` command).
"""

from __future__ import annotations

import simharness.world  # noqa: F401  (registers the simulated world with the engine)
from simharness.api import checkpoint, invariant
from simharness.explore.determinism import DeterminismReport, check_determinism
from simharness.discovery import load_file, resolve, resolve_one
from simharness.errors import (
    ConfigError, ScenarioLoadError, ScheduleDecodeError, ScheduleDivergence, SimharnessError,
    TargetError, UnsupportedInSimulation,
)
from simharness.engine.execution import RunSettings
from simharness.explore.oracles.differential import DivergenceError, assert_same_as_sequential
from simharness.explore.oracles.identical import IdenticalCheck, assert_identical, explore_identical, identical_outputs
from simharness.outcome import Exploration, Failure, FoundFailure, RunResult, TraceStep
from simharness.explore.runner import (
    DEFAULT_STORE, ExploreOptions, explore, explore_variant, replay, replay_lenient, run_strategy,
)
from simharness.explore.schedules import run_schedule
from simharness.scenario import Scenario, scenario
from simharness.engine.schedule import Decision, Schedule
from simharness.explore.store import FailureStore
from simharness.engine.strategies import Option, Strategy
from simharness.world.hosts import Host, host

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_STORE", "ConfigError", "Decision", "DeterminismReport", "DivergenceError", "ExploreOptions", "Exploration",
    "Failure", "FailureStore", "FoundFailure", "IdenticalCheck", "Option", "RunResult", "RunSettings", "Scenario",
    "ScenarioLoadError", "Schedule", "ScheduleDecodeError", "ScheduleDivergence", "SimharnessError",
    "Strategy", "TargetError", "TraceStep", "UnsupportedInSimulation", "assert_identical",
    "assert_same_as_sequential", "check_determinism", "explore_identical", "identical_outputs", "checkpoint",
    "explore", "explore_variant", "invariant", "load_file", "replay", "replay_lenient", "resolve", "resolve_one",
    "run_schedule", "run_strategy", "scenario", "Host", "host",
]
