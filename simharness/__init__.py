"""simharness: reproducible concurrency bugs for asyncio code.

Declare scenarios with `@scenario`, mark uncontrolled awaits with `checkpoint()`,
state invariants with `invariant()`, and explore or replay them with `explore()` and
`replay()` (or the `simharness` command).
"""

from __future__ import annotations

from .api import checkpoint, invariant
from .determinism import DeterminismReport, check_determinism
from .discovery import load_file, resolve, resolve_one
from .errors import (
    ConfigError, ScenarioLoadError, ScheduleDecodeError, ScheduleDivergence, SimharnessError,
    TargetError, UnsupportedInSimulation,
)
from .execution import RunSettings
from .outcome import Exploration, Failure, FoundFailure, RunResult, TraceStep
from .runner import ExploreOptions, explore, explore_variant, replay, run_strategy
from .scenario import Scenario, scenario
from .schedule import Decision, Schedule
from .strategies import Option, Strategy
from . import simsqlite  # noqa: F401  (registers the SQLite adapter)

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "Decision", "DeterminismReport", "check_determinism", "ExploreOptions", "Exploration", "Failure", "FoundFailure", "Option",
    "RunResult", "RunSettings", "Scenario", "ScenarioLoadError", "Schedule", "ScheduleDecodeError",
    "ScheduleDivergence", "SimharnessError", "Strategy", "TargetError", "TraceStep",
    "UnsupportedInSimulation", "checkpoint", "explore", "explore_variant", "invariant", "load_file",
    "replay", "resolve", "resolve_one", "run_strategy", "scenario",
]
