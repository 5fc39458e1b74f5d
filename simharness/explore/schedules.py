"""Schedule i of a seed: the unit every executor runs, in this process or in a worker.

For the index-addressed strategies (`random`, `pct`, `swarm`, `portfolio`) the choices
of schedule i are a pure function of (seed, i, the scenario): the strategies reseed from
`derive_seed(seed, i)` at `begin_run`. PCT also spreads its
change points over an expected decision count that a sequential exploration learns as
it goes; here that count is fixed instead: schedule 1 uses PCT's initial 32 and every
later schedule uses the number of decisions schedule 1 made (at least 1). So any
worker, shard or cluster node computes the same schedule i without having run the
schedules before it.

A `CampaignSpec` names the scenario by file path (workers import it themselves) and
carries the file's content hash, so a worker that sees another version of the file
refuses instead of exploring something else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from simharness.discovery import load_file
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.engine.strategies import PCTStrategy, PortfolioStrategy, RandomStrategy
from simharness.engine.strategies.swarm import SwarmStrategy
from simharness.engine.strategies.pct import DEFAULT_LENGTH
from simharness.engine.strategies.base import Strategy
from simharness.errors import ConfigError, ScenarioLoadError, TargetError
from simharness.outcome import RunResult
from simharness.scenario import Scenario

#: Strategies whose schedule i does not depend on the schedules run before it.
INDEXED_STRATEGIES = ("random", "pct", "swarm", "portfolio")

#: Indexed strategies that learn the decision count from schedule 1 (PCT's change points).
CALIBRATED_STRATEGIES = ("pct", "portfolio")

#: PCT's expected decision count before anything is known (PCTStrategy's default).
PCT_INITIAL_LENGTH = DEFAULT_LENGTH


def file_sha256(path: str | Path) -> str:
    """The content hash of a scenario file (hex), or "" when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass(frozen=True)
class CampaignSpec:
    """Everything a process needs to run schedule i of one scenario variant."""

    source_file: str          # absolute path of the scenario file
    source_sha256: str
    scenario: str
    variant: str
    strategy: str             # one of INDEXED_STRATEGIES
    seed: int
    depth: int
    settings: RunSettings
    pct_length: int = PCT_INITIAL_LENGTH  # expected decisions of schedules 2.. (see module doc)

    def strategy_for(self, index: int) -> Strategy:
        """A fresh strategy positioned on schedule `index` (1-based)."""
        if self.strategy == "random":
            strategy: Strategy = RandomStrategy(self.seed)
        elif self.strategy == "pct":
            length = PCT_INITIAL_LENGTH if index == 1 else self.pct_length
            strategy = PCTStrategy(self.seed, depth=self.depth, initial_length=length)
        elif self.strategy == "swarm":
            strategy = SwarmStrategy(self.seed)
        elif self.strategy == "portfolio":
            length = PCT_INITIAL_LENGTH if index == 1 else self.pct_length
            strategy = PortfolioStrategy(self.seed, depth=self.depth, initial_length=length)
        else:
            raise ConfigError(f"strategy {self.strategy!r} cannot run schedule i on its own "
                              f"(only {', '.join(INDEXED_STRATEGIES)} can)")
        strategy.begin_run(index)
        return strategy

    def calibrated(self, first: ScheduleOutcome) -> CampaignSpec:
        """This spec with PCT's expected length learned from schedule 1's outcome."""
        if first.index != 1:
            raise ValueError("calibration needs schedule 1")
        return replace(self, pct_length=max(1, first.decisions))


def make_spec(scenario: Scenario, variant: str, *, strategy: str, seed: int, depth: int,
              settings: RunSettings) -> CampaignSpec:
    """The spec of a scenario variant, uncalibrated (run schedule 1, then `calibrated`)."""
    if strategy not in INDEXED_STRATEGIES:
        raise ConfigError(f"strategy {strategy!r} cannot run schedule i on its own "
                          f"(only {', '.join(INDEXED_STRATEGIES)} can)")
    if depth < 1:
        raise ConfigError(f"--depth must be at least 1, got {depth}")
    scenario.check_variant(variant)
    path = str(Path(scenario.source_file).resolve())
    return CampaignSpec(path, file_sha256(path), scenario.name, variant, strategy, seed, depth, settings)


def load_scenario(spec: CampaignSpec) -> Scenario:
    """Import the spec's scenario file here; refuse a missing file or another version of it."""
    path = Path(spec.source_file)
    if not path.is_file():
        raise ScenarioLoadError(f"scenario file {spec.source_file} does not exist here "
                                "(workers must see the same files at the same paths)")
    if spec.source_sha256 and file_sha256(path) != spec.source_sha256:
        raise ScenarioLoadError(f"scenario file {spec.source_file} differs from the one the explorer "
                                "loaded (workers must see the same version of the files)")
    for scenario in load_file(path):
        if scenario.name == spec.scenario:
            scenario.check_variant(spec.variant)
            return scenario
    raise TargetError(f"{spec.source_file} has no scenario {spec.scenario!r}")


_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def message_fingerprint(message: str) -> str:
    """Eight hex characters naming a failure message with its numbers masked.

    "test-1 got tok-test-2-2" and "test-2 got tok-test-1-1" are the same outcome.
    """
    masked = _NUMBERS.sub("#", message)
    return hashlib.blake2b(masked.encode(), digest_size=4).hexdigest()


@dataclass(frozen=True)
class ScheduleOutcome:
    """What one schedule did, compactly (what workers send back)."""

    index: int
    outcome: str              # "pass", "fail" or "crash"
    kind: str = ""            # failure kind; "crash" for a dead worker
    message: str = ""
    schedule: str = ""        # encoded schedule (a crash: the decisions made before the process died)
    trace_hash: str = ""
    decisions: int = 0        # how many decisions the run made

    @property
    def failed(self) -> bool:
        return self.outcome != "pass"

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two outcomes the same row of the outcome table."""
        return (self.outcome, self.kind, message_fingerprint(self.message) if self.failed else "")


def outcome_of(index: int, result: RunResult) -> ScheduleOutcome:
    """The compact outcome of schedule `index` from its full run result."""
    failure = result.failure
    return ScheduleOutcome(
        index=index, outcome="fail" if failure else "pass", kind=failure.kind if failure else "",
        message=failure.message if failure else "", schedule=result.schedule.encode(),
        trace_hash=result.trace_hash, decisions=result.schedule.length,
    )


class ScheduleRunner:
    """Runs schedules of specs in this process, reusing one run environment per scenario."""

    def __init__(self, scenario: Scenario | None = None, execution: Execution | None = None) -> None:
        self._scenario = scenario  # already loaded here: used instead of importing its file again
        self._borrowed = execution  # an execution of the caller's open environment, used as is
        self._key: tuple[str, str, str, RunSettings] | None = None
        self._environment: RunEnvironment | None = None
        self._execution: Execution | None = None

    def _execution_for(self, spec: CampaignSpec) -> Execution:
        borrowed = self._borrowed
        if borrowed is not None and (borrowed.scenario.name, borrowed.variant, borrowed.environment.settings) \
                == (spec.scenario, spec.variant, spec.settings):
            return borrowed
        key = (spec.source_file, spec.scenario, spec.variant, spec.settings)
        if self._execution is None or key != self._key:
            self.close()
            own = self._scenario
            scenario = own if own is not None and own.name == spec.scenario else load_scenario(spec)
            environment = RunEnvironment(spec.settings)
            environment.__enter__()
            self._environment, self._key = environment, key
            self._execution = Execution(scenario, spec.variant, environment)
        return self._execution

    def run(self, spec: CampaignSpec, index: int, wrap: Callable[[Strategy], Strategy] | None = None) -> RunResult:
        """Run schedule `index` of `spec` (`wrap` may wrap its strategy, e.g. to record it)."""
        if index < 1:
            raise ConfigError(f"run index must be at least 1, got {index}")
        execution = self._execution_for(spec)
        strategy = spec.strategy_for(index)
        result = execution.run(wrap(strategy) if wrap is not None else strategy)
        strategy.end_run()
        return result

    def outcomes(self, spec: CampaignSpec, indices: Iterable[int]) -> list[ScheduleOutcome]:
        """Run each schedule of `indices` in order (a batch)."""
        return [outcome_of(index, self.run(spec, index)) for index in indices]

    def close(self) -> None:
        if self._environment is not None:
            self._environment.__exit__(None, None, None)
        self._environment = self._execution = self._key = None

    def __enter__(self) -> ScheduleRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_batch(spec: CampaignSpec, indices: Iterable[int]) -> list[ScheduleOutcome]:
    """Run a batch of schedules in this process: indices in, compact outcomes out."""
    with ScheduleRunner() as runner:
        return runner.outcomes(spec, indices)


def run_schedule(scenario: Scenario, variant: str, index: int, *, strategy: str = "portfolio", seed: int = 0,
                 depth: int = 3, settings: RunSettings | None = None) -> RunResult:
    """Run schedule `index` (1-based) of an exploration seeded with `seed`, in this process.

    The same schedule `simharness explore` runs as run `index` with these options,
    whatever the number of workers or shards. (PCT first runs schedule 1 to learn
    the expected decision count; see the module doc.)
    """
    spec = make_spec(scenario, variant, strategy=strategy, seed=seed, depth=depth,
                     settings=settings or RunSettings())
    with ScheduleRunner(scenario) as runner:
        if index > 1 and spec.strategy in CALIBRATED_STRATEGIES:
            spec = spec.calibrated(outcome_of(1, runner.run(spec, 1)))
        return runner.run(spec, index)
