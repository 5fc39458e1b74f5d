"""simharness: reproducible concurrency bugs for asyncio code.

Declare scenarios with `@scenario`, mark uncontrolled awaits with `checkpoint()`,
state invariants with `invariant()`, and explore or replay them with `explore()` and
`replay()` (or the `simharness` command).
"""

from __future__ import annotations

from . import simsqlite  # noqa: F401  (registers the SQLite adapter for simulated runs)
from .api import checkpoint, invariant
from .determinism import DeterminismReport, check_determinism
from .discovery import load_file, resolve, resolve_one
from .errors import (
    ConfigError, ScenarioLoadError, ScheduleDecodeError, ScheduleDivergence, SimharnessError,
    TargetError, UnsupportedInSimulation,
)
from .execution import RunSettings
from .oracle_differential import DivergenceError, assert_same_as_sequential
from .oracle_identical import IdenticalCheck, assert_identical, explore_identical, identical_outputs
from .outcome import Exploration, Failure, FoundFailure, RunResult, TraceStep
from .runner import DEFAULT_STORE, ExploreOptions, explore, explore_variant, replay, run_strategy
from .scenario import Scenario, scenario
from .schedule import Decision, Schedule
from .store import FailureStore
from .strategies import Option, Strategy

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_STORE", "ConfigError", "Decision", "DeterminismReport", "DivergenceError", "ExploreOptions", "Exploration",
    "Failure", "FailureStore", "FoundFailure", "IdenticalCheck", "Option", "RunResult", "RunSettings", "Scenario",
    "ScenarioLoadError", "Schedule", "ScheduleDecodeError", "ScheduleDivergence", "SimharnessError",
    "Strategy", "TargetError", "TraceStep", "UnsupportedInSimulation", "assert_identical",
    "assert_same_as_sequential", "check_determinism", "explore_identical", "identical_outputs", "checkpoint",
    "explore", "explore_variant", "invariant", "load_file", "replay", "resolve", "resolve_one",
    "run_strategy", "scenario",
]
