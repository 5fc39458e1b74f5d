"""Explore and replay: the Python API behind `simharness explore` and `replay`.

The runner owns the loop over schedules; strategies decide, executions run, and
the runner only sequences them (remembered failures from the failure store first),
stops at the first failure, shrinks it, and records it in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simharness.errors import ConfigError, ScheduleDivergence, TargetError
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.outcome import Exploration, FoundFailure, RunResult
from simharness.engine.realtime import perf_counter
from simharness.scenario import Scenario
from simharness.engine.schedule import Schedule
from simharness.engine.strategies import ReplayStrategy, make_strategy
from simharness.engine.strategies.base import Strategy
from simharness.explore.store import FailureStore, StoreArg, StoreSession as _StoreSession

#: Called after each run with (runs done, runs planned); used for progress bars.
Progress = Callable[[int, int], None]


class _DefaultStore:
    """Type of `DEFAULT_STORE`: "use the failure store configured for this directory"."""

    def __repr__(self) -> str:
        return "DEFAULT_STORE"


#: `explore(store=DEFAULT_STORE)`: the store `$SIMHARNESS_STORE` or `.simharness/` names.
DEFAULT_STORE = _DefaultStore()


@dataclass(frozen=True)
class ExploreOptions:
    """How to explore: strategy, how many schedules, seed and bounds."""

    strategy: str = "pct"
    runs: int = 1000
    seed: int = 0
    depth: int = 3
    bound: int | None = None
    shrink: bool = True

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ConfigError(f"--runs must be at least 1, got {self.runs}")
        if self.depth < 1:
            raise ConfigError(f"--depth must be at least 1, got {self.depth}")
        if self.bound is not None and self.bound < 0:
            raise ConfigError(f"--bound must be >= 0, got {self.bound}")


def explore_variant(scenario: Scenario, variant: str, options: ExploreOptions | None = None,
                    settings: RunSettings | None = None, *, progress: Progress | None = None,
                    first: list[Schedule] | None = None, store: StoreArg = None) -> Exploration:
    """Run up to `options.runs` schedules of one variant; stop at the first failure.

    `first` holds schedules to replay before exploring; `store` (a `FailureStore`, a
    path, or None for none) adds its remembered failures of this variant to them and
    records the failure found. A replayed schedule that still fails is reported as
    run 0's finding; stored ones that diverge or pass are dropped from the store.
    """
    options = options or ExploreOptions()
    settings = settings or RunSettings()
    scenario.check_variant(variant)
    require_simulation(scenario)
    strategy = make_strategy(options.strategy, seed=options.seed, depth=options.depth, bound=options.bound)
    started = perf_counter()
    runs = 0
    found: RunResult | None = None
    found_index = 0
    stored_from: Schedule | None = None
    remembered = _StoreSession.open(store, scenario.name, variant)
    replayed = 0
    with RunEnvironment(settings) as environment:
        execution = Execution(scenario, variant, environment)
        for stored in list(first or ()) + list(remembered.schedules):
            if stored.preemptive != execution.settings.preemptive:
                continue  # recorded in the other mode: not applicable to this exploration
            from_store = remembered.holds(stored)
            replayed += 1
            try:
                result = _replay_in(execution, stored)
            except ScheduleDivergence as divergence:
                if from_store:
                    remembered.forget(stored, f"it diverges now ({divergence.detail})")
                continue
            if result.failed:
                found, found_index = result, 0
                stored_from = stored if from_store else None
                break
            if from_store:
                remembered.forget(stored, "it passes now", fixed=True)
        if found is None:
            for index in range(1, options.runs + 1):
                if not strategy.begin_run(index):
                    break
                result = execution.run(strategy)
                strategy.end_run()
                runs = index
                if progress is not None:
                    progress(index, options.runs)
                if result.failed:
                    found, found_index = result, index
                    break
        failure = None
        if found is not None:
            failure = _finding(execution, found, found_index, options.shrink)
    if failure is not None:
        remembered.remember(failure, strategy=options.strategy, seed=options.seed, depth=options.depth,
                            runs=options.runs, superseded=stored_from)
    exhausted = bool(getattr(strategy, "exhausted", False))
    return Exploration(
        scenario=scenario.name, variant=variant, strategy=options.strategy, seed=options.seed, runs=runs,
        failed=failure is not None, elapsed_s=round(perf_counter() - started, 6), failure=failure,
        exhausted=exhausted, stored_replays=replayed, notes=tuple(remembered.notes),
    )


def require_simulation(scenario: Scenario) -> None:
    """Refuse scenarios declared `backends=("real",)`: a simulated pass would claim too much."""
    backends = tuple(scenario.options.get("backends", ("sim", "real")))
    if "sim" not in backends:
        raise TargetError(f"scenario {scenario.name!r} only runs on the real backend "
                          f"(its race needs real threads or processes): use simharness stress")


def _replay_in(execution: Execution, schedule: Schedule, *, detail: bool = False) -> RunResult:
    schedule.check_scope(execution.scenario.name, execution.variant)
    if schedule.preemptive != execution.settings.preemptive:
        mode = "preemptive" if schedule.preemptive else "faithful"
        raise ConfigError(f"schedule was recorded in {mode} mode; "
                          f"{'add' if schedule.preemptive else 'drop'} --preemptive to replay it")
    strategy = ReplayStrategy(schedule)
    strategy.begin_run(1)
    result = execution.run(strategy, detail=detail)
    strategy.end_run()
    return result


def _finding(execution: Execution, found: RunResult, run_index: int, shrink: bool) -> FoundFailure:
    assert found.failure is not None
    final, replays = found, 0
    if shrink:
        from simharness.explore.shrink import shrink_failure
        final, replays = shrink_failure(execution, found)
    assert final.failure is not None
    return FoundFailure(
        kind=final.failure.kind, message=final.failure.message, schedule=final.schedule.encode(),
        trace_hash=final.trace_hash, run_index=run_index, steps=final.steps,
        original_schedule=found.schedule.encode(), preemptive=final.failure.preemptive,
        shrink_replays=replays,
    )


def explore(scenario: Scenario, variants: list[str] | None = None, options: ExploreOptions | None = None,
            settings: RunSettings | None = None, *, progress: Progress | None = None,
            store: StoreArg | _DefaultStore = DEFAULT_STORE) -> list[Exploration]:
    """Explore the given variants (all by default) of a scenario, one `Exploration` each.

    By default the failure store (`$SIMHARNESS_STORE`, else `.simharness/failures.db`)
    is replayed first and remembers what is found; `store=None` explores without it.
    """
    chosen = variants or list(scenario.variant_names)
    for variant in chosen:
        scenario.check_variant(variant)
    used = FailureStore.default() if isinstance(store, _DefaultStore) else store
    return [explore_variant(scenario, v, options, settings, progress=progress, store=used) for v in chosen]


def replay(scenario: Scenario, variant: str, schedule: str | Schedule, settings: RunSettings | None = None,
           *, trace: bool = False) -> RunResult:
    """Run exactly one recorded schedule. Raises `ScheduleDivergence` if the run departs from it."""
    decoded = Schedule.decode(schedule) if isinstance(schedule, str) else schedule
    scenario.check_variant(variant)
    require_simulation(scenario)
    decoded.check_scope(scenario.name, variant)
    base = settings or RunSettings()
    if decoded.preemptive != base.preemptive:
        base = RunSettings(**{**base.__dict__, "preemptive": decoded.preemptive})
    with RunEnvironment(base) as environment:
        return _replay_in(Execution(scenario, variant, environment), decoded, detail=trace)


def run_strategy(scenario: Scenario, variant: str, strategy: Strategy, settings: RunSettings | None = None,
                 *, detail: bool = False) -> RunResult:
    """Run one schedule chosen by any strategy object (Hypothesis, custom strategies)."""
    with RunEnvironment(settings or RunSettings()) as environment:
        strategy.begin_run(1)
        result = Execution(scenario, variant, environment).run(strategy, detail=detail)
        strategy.end_run()
        return result
