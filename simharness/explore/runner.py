"""Explore and replay: the Python API behind `simharness explore` and `replay`.

The runner owns the loop over schedules; strategies decide, executions run, and
the runner only sequences them (remembered failures from the failure store first),
stops at the first failure, shrinks it, and records it in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from simharness.errors import ConfigError, ScheduleDecodeError, ScheduleDivergence, TargetError
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.explore.campaign import CampaignRun, Executor, InProcessExecutor, Shard, Tally, run_campaign
from simharness.explore.schedules import INDEXED_STRATEGIES, ScheduleOutcome, make_spec, outcome_of
from simharness.outcome import CampaignInfo, Exploration, FoundFailure, LenientReplay, RunResult
from simharness.engine.realtime import perf_counter
from simharness.scenario import Scenario
from simharness.engine.schedule import Schedule, recorded_on, scope_of
from simharness.engine.strategies import LenientReplayStrategy, ReplayStrategy, make_strategy
from simharness.engine.strategies.base import Strategy
from simharness.explore.store import FailureStore, StoreArg, StoreSession as _StoreSession

from simharness.explore.campaign import Progress


class _DefaultStore:
    """Type of `DEFAULT_STORE`: "use the failure store configured for this directory"."""

    def __repr__(self) -> str:
        return "DEFAULT_STORE"


#: `explore(store=DEFAULT_STORE)`: the store `$SIMHARNESS_STORE` or `.simharness/` names.
DEFAULT_STORE = _DefaultStore()


@dataclass(frozen=True)
class ExploreOptions:
    """How to explore: strategy, how many schedules, seed and bounds."""

    strategy: str = "portfolio"
    runs: int = 1000
    seed: int = 0
    depth: int = 3
    bound: int | None = None
    #: dfs only: prune decisions in states already explored from (`engine/strategies/dfs.py`).
    reduction: bool = True
    shrink: bool = True
    #: Run every schedule and count each distinct outcome instead of stopping at the first failure.
    count_outcomes: bool = False
    #: Run only this shard of the schedule indices (portfolio, random, swarm and pct only).
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ConfigError(f"--runs must be at least 1, got {self.runs}")
        if self.depth < 1:
            raise ConfigError(f"--depth must be at least 1, got {self.depth}")
        if self.bound is not None and self.bound < 0:
            raise ConfigError(f"--bound must be >= 0, got {self.bound}")


def explore_variant(scenario: Scenario, variant: str, options: ExploreOptions | None = None,
                    settings: RunSettings | None = None, *, progress: Progress | None = None,
                    first: list[Schedule] | None = None, store: StoreArg = None,
                    executor: Executor | None = None) -> Exploration:
    """Run up to `options.runs` schedules of one variant; stop at the first failure.

    `first` holds schedules to replay before exploring; `store` (a `FailureStore`, a
    path, or None for none) adds its remembered failures of this variant to them and
    records the failure found. A replayed schedule that still fails is reported as
    run 0's finding; stored ones that diverge or pass are dropped from the store.

    `portfolio`, `random` and `pct` run schedule i as a function of (seed, i) on `executor` (default:
    this process; `workers.ProcessPool`, `cluster.DaskExecutor`), and the failure with
    the lowest run index is the one reported, so the answer does not depend on the
    executor. With `options.count_outcomes` or a shard, the store is not used.
    """
    options = options or ExploreOptions()
    settings = settings or RunSettings()
    scenario.check_variant(variant)
    require_simulation(scenario)
    indexed = options.strategy in INDEXED_STRATEGIES
    if not indexed and (executor is not None or options.shard is not None):
        raise ConfigError(f"--strategy {options.strategy} chooses each schedule from the ones before it, so it "
                          "runs in one process: drop --workers, --shard and --cluster")
    if options.count_outcomes or options.shard is not None:
        store, first = None, None  # a count or a shard covers exactly its schedules
    strategy = make_strategy(options.strategy, seed=options.seed, depth=options.depth, bound=options.bound,
                             reduction=options.reduction)
    started = perf_counter()
    runs = 0
    found: RunResult | None = None
    found_index = 0
    remembered = _StoreSession.open(store, scenario.name, variant)
    tally = Tally()
    campaign: CampaignRun | None = None
    failure: FoundFailure | None = None
    replayed = 0
    with RunEnvironment(settings) as environment:
        execution = Execution(scenario, variant, environment)
        replayed, found, stored_from = _replay_stored(execution, list(first or ()), remembered)
        if found is None and indexed and executor is None:
            campaign = _campaign(scenario, variant, options, settings, InProcessExecutor(scenario, execution), progress)
        elif found is None and not indexed:
            for index in range(1, options.runs + 1):
                if not strategy.begin_run(index):
                    break
                result = execution.run(strategy)
                strategy.end_run()
                runs = index
                tally.add(outcome_of(index, result))
                if progress is not None:
                    progress(index, options.runs)
                if result.failed and found is None:
                    found, found_index = result, index
                    if not options.count_outcomes:
                        break
        if found is not None:
            failure = _finding(execution, found, found_index, options.shrink)
        elif campaign is not None and campaign.first_failure is not None:
            failure = _campaign_finding(execution, campaign.first_failure, options.shrink)
    if found is None and indexed and executor is not None:
        # Outside the run environment: an executor's own machinery (Dask's event loop,
        # timeouts) needs the real clock, which the environment replaces.
        campaign = _campaign(scenario, variant, options, settings, executor, progress)
        if campaign.first_failure is not None:
            with RunEnvironment(settings) as environment:
                failure = _campaign_finding(Execution(scenario, variant, environment), campaign.first_failure,
                                            options.shrink)
    if campaign is not None:
        runs = campaign.runs
    if failure is not None and failure.kind != "crash":  # a crash is never replayed in this process
        remembered.remember(failure, strategy=options.strategy, seed=options.seed, depth=options.depth,
                            runs=options.runs, superseded=stored_from)
    exhausted = bool(getattr(strategy, "exhausted", False))
    info = None
    if campaign is not None:
        shard = options.shard or Shard()
        info = CampaignInfo(options.runs, options.depth, settings.preemptive, shard.index, shard.count,
                            options.count_outcomes, campaign.spec.source_sha256)
    return Exploration(
        scenario=scenario.name, variant=variant, strategy=options.strategy, seed=options.seed, runs=runs,
        failed=failure is not None, elapsed_s=round(perf_counter() - started, 6), failure=failure,
        exhausted=exhausted, reduced=bool(getattr(strategy, "reduced", False)),
        stored_replays=replayed, notes=tuple(remembered.notes),
        outcomes=campaign.outcomes if campaign is not None else tally.rows(), campaign=info,
        interrupted=campaign is not None and campaign.interrupted,
    )


def _replay_stored(execution: Execution, first: list[Schedule],
                   remembered: _StoreSession) -> tuple[int, RunResult | None, Schedule | None]:
    """Replay `first` and the stored failures: (replayed, the first that still fails, its stored schedule)."""
    replayed = 0
    for stored in first + list(remembered.schedules):
        if stored.preemptive != execution.settings.preemptive:
            continue  # recorded in the other mode: not applicable to this exploration
        from_store = remembered.holds(stored)
        replayed += 1
        how = ""
        try:
            result = _replay_in(execution, stored)
        except ScheduleDivergence:
            # The code changed since: follow the stored schedule where it still applies.
            strategy = LenientReplayStrategy(stored)
            strategy.begin_run(1)
            result = execution.run(strategy)
            strategy.end_run()
            how = f" under the stored schedule (followed {strategy.followed} of {len(stored.decisions)} decisions)"
        if result.failed:
            return replayed, result, stored if from_store else None
        if from_store:
            remembered.forget(stored, f"it passes now{how}", fixed=True)
    return replayed, None, None


def _campaign(scenario: Scenario, variant: str, options: ExploreOptions, settings: RunSettings,
              executor: Executor, progress: Progress | None) -> CampaignRun:
    spec = make_spec(scenario, variant, strategy=options.strategy, seed=options.seed, depth=options.depth,
                     settings=settings)
    return run_campaign(spec, executor, runs=options.runs, shard=options.shard,
                        stop_at_first=not options.count_outcomes, progress=progress)


def require_simulation(scenario: Scenario) -> None:
    """Refuse scenarios declared `backends=("real",)`: a simulated pass would claim too much."""
    backends = tuple(scenario.options.get("backends", ("sim", "real")))
    if "sim" not in backends:
        raise TargetError(f"scenario {scenario.name!r} only runs on the real backend "
                          f"(its race needs real threads or processes): use simharness stress")


def _replay_in(execution: Execution, schedule: Schedule, *, detail: bool = False,
               check_trace: bool = False, accesses: bool = False) -> RunResult:
    schedule.check_scope(execution.scenario.name, execution.variant)
    if schedule.preemptive != execution.settings.preemptive:
        mode = "preemptive" if schedule.preemptive else "faithful"
        raise ConfigError(f"schedule was recorded in {mode} mode; "
                          f"{'add' if schedule.preemptive else 'drop'} --preemptive to replay it")
    strategy = ReplayStrategy(schedule)
    strategy.begin_run(1)
    version_note = recorded_on(schedule)
    try:
        result = execution.run(strategy, detail=detail, accesses=accesses)
        strategy.end_run()
    except ScheduleDivergence as error:
        if not version_note:
            raise
        raise ScheduleDivergence(error.step, version_note + error.detail) from None
    # The steps between decisions are compared when asked (the same code replayed: a
    # difference is nondeterminism) and always across Python versions (never silent).
    compare = check_trace or bool(version_note)
    if compare and schedule.trace_digest and result.trace_hash[:4] != f"{schedule.trace_digest:04x}":
        # Every recorded decision was followed, yet the run took other steps between them.
        raise ScheduleDivergence(
            schedule.length, f"{version_note}the run followed every recorded decision but took "
            f"different steps (trace {result.trace_hash} does not match the recording); "
            "compare `replay --trace` on both")
    return result


def _finding(execution: Execution, found: RunResult, run_index: int, shrink: bool) -> FoundFailure:
    assert found.failure is not None
    final, replays = found, 0
    # A blocked loop is found only after `blocked_loop_s` of real waiting, and so is every
    # replay of it: shrinking would multiply that wait, silently. It is reported as found.
    if shrink and found.failure.kind != "blocked-loop":
        from simharness.explore.shrink import shrink_failure
        final, replays = shrink_failure(execution, found)
    assert final.failure is not None
    return FoundFailure(
        kind=final.failure.kind, message=final.failure.message, schedule=final.schedule.encode(),
        trace_hash=final.trace_hash, run_index=run_index, steps=final.steps,
        original_schedule=found.schedule.encode(), preemptive=final.failure.preemptive,
        shrink_replays=replays,
    )


def _campaign_finding(execution: Execution, outcome: ScheduleOutcome, shrink: bool) -> FoundFailure:
    """The reported failure of a campaign: its lowest-index failure, replayed here and shrunk.

    A crash is not replayed here (it would end this process): it is reported as found.
    """
    if outcome.outcome != "crash":
        try:
            result = _replay_in(execution, Schedule.decode(outcome.schedule))
        except ScheduleDivergence:
            result = None  # not deterministic here: report the schedule as the worker found it
        if result is not None and result.failed:
            return _finding(execution, result, outcome.index, shrink)
    return FoundFailure(kind=outcome.kind, message=outcome.message, schedule=outcome.schedule,  # type: ignore[arg-type]
                        trace_hash=outcome.trace_hash, run_index=outcome.index, steps=0,
                        original_schedule=outcome.schedule, preemptive=execution.settings.preemptive)


def explore(scenario: Scenario, variants: list[str] | None = None, options: ExploreOptions | None = None,
            settings: RunSettings | None = None, *, progress: Progress | None = None,
            store: StoreArg | _DefaultStore = DEFAULT_STORE, executor: Executor | None = None,
            stop_at_first: bool = True) -> list[Exploration]:
    """Explore the given variants (all by default) of a scenario, one `Exploration` each.

    By default the failure store (`$SIMHARNESS_STORE`, else `.simharness/failures.db`)
    is replayed first and remembers what is found; `store=None` explores without it.
    `stop_at_first=False` runs every schedule and fills each `Exploration.outcomes`
    (the outcome table); `executor` runs the schedules elsewhere (see `explore_variant`).
    """
    chosen = variants or list(scenario.variant_names)
    for variant in chosen:
        scenario.check_variant(variant)
    used = FailureStore.default() if isinstance(store, _DefaultStore) else store
    if not stop_at_first:
        options = replace(options or ExploreOptions(), count_outcomes=True)
    return [explore_variant(scenario, v, options, settings, progress=progress, store=used, executor=executor)
            for v in chosen]


def replay(scenario: Scenario, variant: str, schedule: str | Schedule, settings: RunSettings | None = None,
           *, trace: bool = False, check_trace: bool = False, accesses: bool = False) -> RunResult:
    """Run exactly one recorded schedule. Raises `ScheduleDivergence` if the run departs from it.

    Every recorded decision must be met. With `check_trace` (the `replay` command), the
    steps between them must also match the recording's trace digest: for unchanged code
    a difference means the run is not deterministic. A schedule recorded on another
    Python version is always checked so. `accesses` also records which step read or
    wrote which shared object (`RunResult.accesses`, for the explanation; slow).
    """
    decoded = Schedule.decode(schedule) if isinstance(schedule, str) else schedule
    scenario.check_variant(variant)
    require_simulation(scenario)
    decoded.check_scope(scenario.name, variant)
    base = settings or RunSettings()
    if decoded.preemptive != base.preemptive:
        base = RunSettings(**{**base.__dict__, "preemptive": decoded.preemptive})
    with RunEnvironment(base) as environment:
        return _replay_in(Execution(scenario, variant, environment), decoded, detail=trace,
                          check_trace=check_trace, accesses=accesses)


def replay_lenient(scenario: Scenario, variant: str, schedule: str | Schedule,
                   settings: RunSettings | None = None, *, trace: bool = False,
                   accesses: bool = False) -> LenientReplay:
    """Replay a schedule on code that may have changed: follow it where it still applies.

    The schedule may come from any variant of the same scenario (the buggy one's failing
    schedule on the fixed one) or from the same test before an edit. Raises
    `ScheduleDecodeError` for a schedule of another scenario.
    """
    decoded = Schedule.decode(schedule) if isinstance(schedule, str) else schedule
    scenario.check_variant(variant)
    require_simulation(scenario)
    scopes = {scope_of(scenario.name, v): v for v in scenario.variant_names}
    if decoded.scope not in scopes:
        raise ScheduleDecodeError(f"schedule was recorded for another scenario or variant: not for any "
                                  f"variant of {scenario.name}")
    base = settings or RunSettings()
    if decoded.preemptive != base.preemptive:
        base = RunSettings(**{**base.__dict__, "preemptive": decoded.preemptive})
    strategy = LenientReplayStrategy(decoded)
    with RunEnvironment(base) as environment:
        strategy.begin_run(1)
        result = Execution(scenario, variant, environment).run(strategy, detail=trace, accesses=accesses)
        strategy.end_run()
    return LenientReplay(result=result, recorded=len(decoded.decisions), followed=strategy.followed,
                         departures=decoded.deviations, departures_followed=strategy.departures_followed,
                         recorded_variant=scopes[decoded.scope])


def run_strategy(scenario: Scenario, variant: str, strategy: Strategy, settings: RunSettings | None = None,
                 *, detail: bool = False, accesses: bool = False) -> RunResult:
    """Run one schedule chosen by any strategy object (Hypothesis, custom strategies)."""
    with RunEnvironment(settings or RunSettings()) as environment:
        strategy.begin_run(1)
        result = Execution(scenario, variant, environment).run(strategy, detail=detail, accesses=accesses)
        strategy.end_run()
        return result
