"""`simharness list`, `explore` and `replay`: thin layers over `simharness.explore.runner`.

Each command validates its input (a `SimharnessError` means exit 2), calls the
Python API, prints what came back, and chooses the exit code.

Just over ~300 lines: three commands and their option declarations (typer's
`Annotated` options take a line or two each); the rendering lives in `render.py`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

import typer

from simharness.discovery import Selection, only_one, resolve, scan_directory
from simharness.errors import (ConfigError, ScenarioLoadError, ScheduleDecodeError, ScheduleDivergence,
                               SimharnessError, TargetError)
from simharness.engine.execution import RunSettings
from simharness.explore.explain import Explanation, explain
from simharness.explore.timing import stock_terms
from simharness.outcome import Exploration, LenientReplay, RunResult
from simharness.explore.runner import (
    ExploreOptions, explore_variant, replay, replay_lenient, require_simulation, run_strategy,
)
from simharness.scenario import Scenario, check_faults
from simharness.engine.schedule import Schedule, recorded_on
from simharness.explore.serialize import exploration_document, replay_command, replay_document, to_jsonable
from simharness.explore.store import FailureStore, StoreArg, StoreWarning
from simharness.explore.shrink import MAX_REPLAYS, MAX_REPLAYS_LIMIT, shrink_schedule
from simharness.explore.aimed import check_aimed_faults
from simharness.engine.strategies import STRATEGY_NAMES, FifoStrategy
from simharness.cli import render, scaling
from simharness.cli.app import app
from simharness.cli.common import (
    EXIT_FOUND, EXIT_OK, JsonOption, MaxStepsOption, ProgressBar, ScenariosDirOption, display_path,
    emit_json, note, progress_enabled, require_at_least,
)
from simharness.report import check_writable
from simharness.cli.report import DEFAULT_REPORT_DIR, HtmlOption, ReportDirOption, explore_html, write_html

DEFAULT_SCENARIOS_DIR = "scenarios"


def _resolve(target: str, scenarios_dir: str) -> Selection:
    """`resolve`, with a warning for each broken file of the folder that was skipped."""
    selection = resolve(target, scenarios_dir)
    for text in selection.broken:
        note(f"warning: skipped a scenario file that failed to load: {text}", "yellow")
    return selection


#: Caps of explore's counts: beyond these a run takes days, or (PCT depth) never starts.
MAX_RUNS = 1_000_000_000
MAX_DEPTH = 1_000
MAX_STEPS = 100_000_000
MAX_SEED = 2**64 - 1


def require_at_most(option: str, value: int | None, maximum: int) -> None:
    """Raise `ConfigError` if `value` (when given) is over `maximum`."""
    if value is not None and value > maximum:
        raise ConfigError(f"{option} must be at most {maximum}, got {value}")


FaultsOption = Annotated[str | None, typer.Option(
    "--faults", metavar="NAMES", help="Network faults to explore, of those the scenario declares with "
    "faults=(...): comma-separated (refused, reset, stall, partition), or 'none'.")]


def _settings(max_steps: int | None, preemptive: bool = False, faults: str | None = None) -> RunSettings:
    require_at_least("--max-steps", max_steps)
    require_at_most("--max-steps", max_steps, MAX_STEPS)
    selection = _fault_names(faults)
    if max_steps is None:
        return RunSettings(preemptive=preemptive, fault_selection=selection)
    return RunSettings(preemptive=preemptive, max_steps=max_steps, fault_selection=selection)


def _fault_names(faults: str | None) -> tuple[str, ...] | None:
    if faults is None:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in faults.split(",") if name.strip()))
    if not names:
        raise ConfigError("--faults needs fault names (refused, reset, stall, partition) or 'none'")
    if names == ("none",):
        return ()
    try:
        return check_faults("--faults", names)
    except ScenarioLoadError as error:
        raise ConfigError(str(error)) from None


def _check_faults(settings: RunSettings, scenarios: list[Scenario]) -> None:
    """`--faults` only for scenarios that declare those faults (ConfigError before any run)."""
    for scenario in scenarios:
        settings.for_scenario(scenario)


def _is_path_target(target: str) -> bool:
    return target.partition("::")[0].endswith(".py") or "::" in target


def _plan(target: str, scenarios: tuple[Scenario, ...], variant: str | None) -> list[tuple[Scenario, str]]:
    """The (scenario, variant) pairs to explore.

    One scenario: `--variant` must be one of its variants. Several (a file target):
    `--variant` picks that variant where a scenario has it; scenarios that only run
    on the real backend are skipped with a note instead of failing the whole target.
    """
    if len(scenarios) == 1:
        scenario = scenarios[0]
        if variant is not None:
            scenario.check_variant(variant)
        require_simulation(scenario)
        return [(scenario, v) for v in ([variant] if variant else scenario.variant_names)]
    plan: list[tuple[Scenario, str]] = []
    for scenario in scenarios:
        try:
            require_simulation(scenario)
        except TargetError:
            note(f"skipping {scenario.name}: it only runs on the real backend (use simharness stress)")
            continue
        if variant is None:
            plan.extend((scenario, v) for v in scenario.variant_names)
        elif variant in scenario.variants:
            plan.append((scenario, variant))
    if not plan:
        if variant is not None:
            known = sorted({v for s in scenarios for v in s.variant_names})
            raise TargetError(f"no scenario of {target} has variant {variant!r} (valid: {', '.join(known)})")
        raise TargetError(f"{target} names no scenario that runs in simulation")
    return plan


def _replay_target(target: str, scenario: Scenario, several: bool) -> str:
    """The target to print in a replay line: as typed, narrowed to one scenario if needed."""
    if not several:
        return target
    if _is_path_target(target):
        return f"{target.partition('::')[0]}::{scenario.name}"
    return f"{display_path(scenario.source_file)}::{scenario.name}"


def _fifo_run(scenario: Scenario, variant: str, settings: RunSettings, preemptive: bool,
              accesses: bool = True) -> RunResult:
    """The detailed default-order run of a variant, in the mode of the schedule it is compared with
    (with its shared-object accesses, for the explanation's raced state)."""
    fifo_settings = RunSettings(**{**settings.__dict__, "preemptive": preemptive})
    return run_strategy(scenario, variant, FifoStrategy(), fifo_settings, detail=True, accesses=accesses)


@app.command("list")
def list_command(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[TARGET...]", help="PATH.py, PATH.py::NAME or NAME (default: every scenario in the folder).")] = None,
    scenarios_dir: ScenariosDirOption = DEFAULT_SCENARIOS_DIR,
    json_output: JsonOption = False,
) -> None:
    """Show each scenario: name, source file, variants and what each is expected to do."""
    scenarios: list[Scenario] = []
    broken: tuple[SimharnessError, ...] = ()
    if targets:
        for target in targets:
            scenarios.extend(_resolve(target, scenarios_dir).scenarios)
    else:
        scan = scan_directory(scenarios_dir)  # a broken file is reported; the others are listed
        scenarios.extend(scan.scenarios)
        broken = scan.errors
    if json_output:
        emit_json({"scenarios": [{
            "name": s.name, "file": display_path(s.source_file), "line": s.source_line,
            "doc": s.doc, "variants": list(s.variant_names),
            "expect": {v: s.expectation(v) for v in s.variant_names},
            "options": to_jsonable(s.options),
        } for s in scenarios]})
        _fail_if_broken(broken)
        return
    if not scenarios:
        note(f"no scenarios found in {scenarios_dir}/")
    for scenario in scenarios:
        render.scenario_listing(scenario)
    _fail_if_broken(broken)


def _fail_if_broken(broken: tuple[SimharnessError, ...]) -> None:
    """After listing what loads: each broken file on stderr, then exit 2 with the first."""
    for error in broken[1:]:
        note(f"error: {error}", "red")
    if broken:
        raise broken[0]


@app.command("explore")
def explore_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="PATH.py, PATH.py::NAME or NAME.")],
    variant: Annotated[str | None, typer.Option("--variant", "-v", help="Explore only this variant.")] = None,
    strategy: Annotated[str, typer.Option(
        "--strategy", "-s",
        help=f"How to choose schedules: {', '.join(STRATEGY_NAMES)} (portfolio: random, swarm and pct in turn).")] = "portfolio",
    runs: Annotated[int, typer.Option("--runs", "-n", metavar="N", help="Schedules to try per variant.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Schedule i derives from (S, i).")] = 0,
    depth: Annotated[int, typer.Option("--depth", metavar="D",
                                       help="PCT depth (priority change points + 1).")] = 3,
    bound: Annotated[int | None, typer.Option(
        "--bound", metavar="B", help="dfs only: at most B non-default choices per schedule.")] = None,
    no_reduction: Annotated[bool, typer.Option(
        "--no-reduction", help="dfs only: enumerate every schedule, also those reaching a state "
        "already explored from (to compare).")] = False,
    max_steps: MaxStepsOption = None,
    faults: FaultsOption = None,
    preemptive: Annotated[bool, typer.Option(
        "--preemptive", help="Also let any ready callback run next (orders asyncio itself never produces).")] = False,
    no_shrink: Annotated[bool, typer.Option("--no-shrink", help="Report the failing schedule as found.")] = False,
    store: Annotated[str | None, typer.Option(
        "--store", metavar="PATH", help="Failure store file (default: $SIMHARNESS_STORE, else "
        ".simharness/failures.db; 'off' disables it).")] = None,
    no_store: Annotated[bool, typer.Option(
        "--no-store", help="Neither replay nor record remembered failures.")] = False,
    workers: scaling.WorkersOption = None,
    count_outcomes: scaling.CountOption = False,
    shard: scaling.ShardOption = None,
    cluster: scaling.ClusterOption = None,
    json_output: JsonOption = False,
    html: HtmlOption = False,
    report_dir: ReportDirOption = DEFAULT_REPORT_DIR,
    scenarios_dir: ScenariosDirOption = DEFAULT_SCENARIOS_DIR,
) -> None:
    """Run up to N schedules per variant; stop a variant at its first failure and print how to replay it."""
    if strategy not in STRATEGY_NAMES:
        raise ConfigError(f"unknown strategy {strategy!r} (choose one of: {', '.join(STRATEGY_NAMES)})")
    if bound is not None and strategy != "dfs":
        raise ConfigError("--bound only applies to --strategy dfs")
    if no_reduction and strategy != "dfs":
        raise ConfigError("--no-reduction only applies to --strategy dfs")
    require_at_most("--runs", runs, MAX_RUNS)
    require_at_most("--depth", depth, MAX_DEPTH)
    require_at_most("--bound", bound, MAX_STEPS)
    if abs(seed) > MAX_SEED:
        raise ConfigError(f"--seed must be between -{MAX_SEED} and {MAX_SEED}, got {seed}")
    scaling.check_strategy(strategy, workers, shard, cluster)
    options = ExploreOptions(strategy=strategy, runs=runs, seed=seed, depth=depth, bound=bound,
                             reduction=not no_reduction, shrink=not no_shrink, count_outcomes=count_outcomes,
                             shard=scaling.parse_shard(shard))
    settings = _settings(max_steps, preemptive, faults)
    if html:
        check_writable(report_dir)  # before exploring: a bad folder must not cost the whole run
    selection = _resolve(target, scenarios_dir)
    _check_faults(settings, list(selection.scenarios))
    plan = _plan(target, selection.scenarios, variant)
    for scenario in selection.scenarios:  # an aimed fault must meet a connection it aims at
        check_aimed_faults(scenario, [v for s, v in plan if s is scenario], settings)
    several = len(selection.scenarios) > 1
    custom_dir = scenarios_dir if scenarios_dir != DEFAULT_SCENARIOS_DIR and not _is_path_target(target) else None

    def replay_line(exploration: Exploration) -> str:
        assert exploration.failure is not None
        scenario = next(s for s in selection.scenarios if s.name == exploration.scenario)
        return replay_command(_replay_target(target, scenario, several), exploration.variant,
                              exploration.failure.schedule, scenarios_dir=custom_dir, max_steps=max_steps,
                              faults=settings.fault_selection)

    remembered: StoreArg = None if no_store else (store if store is not None else FailureStore.default())
    explorations: list[Exploration] = []
    executor = scaling.open_executor(workers, cluster)
    try:
        for scenario, chosen in plan:
            with ProgressBar(f"{scenario.name} [{chosen}]", enabled=progress_enabled(json_output)) as bar, \
                    warnings.catch_warnings():
                # Store notes come back in `Exploration.notes`; print them once, as notes.
                warnings.simplefilter("ignore", StoreWarning)
                exploration = explore_variant(scenario, chosen, options, settings, progress=bar, store=remembered,
                                              executor=executor)
            for text in exploration.notes:
                note(text, "yellow")
            explorations.append(exploration)
            if count_outcomes and not json_output:  # with --json: one document at the end
                scaling.outcome_table(exploration, replay=lambda s: s)
            elif not json_output:
                _print_exploration(scenario, exploration, options.runs, replay_line, settings)
            if exploration.interrupted:
                break
    finally:
        if executor is not None:
            executor.close()
    document = exploration_document(target, explorations, replay=replay_line)
    if json_output:
        emit_json(document)
    if html:
        explore_html(document, explorations, selection.scenarios, settings, report_dir, json_output)
    if any(e.interrupted for e in explorations):
        note("interrupted: results above count only the runs that finished", "yellow")
        raise typer.Exit(130)
    raise typer.Exit(EXIT_FOUND if any(e.failed for e in explorations) else EXIT_OK)


def _print_exploration(scenario: Scenario, exploration: Exploration, runs: int,
                       replay_line: Callable[[Exploration], str], settings: RunSettings) -> None:
    failure = exploration.failure
    line = replay_line(exploration) if failure is not None else None
    render.exploration_outcome(exploration, runs, line)
    scaling.crash_note(exploration)
    if failure is None or failure.kind == "crash":
        return
    try:
        detailed = replay(scenario, exploration.variant, failure.schedule, settings, trace=True, accesses=True)
        fifo = _fifo_run(scenario, exploration.variant, settings, detailed.schedule.preemptive)
        explanation = replace(explain(detailed, fifo), stock_terms=stock_terms(
            scenario, exploration.variant, failure.schedule, settings))
    except SimharnessError as error:  # the finding stands; only the "why" is missing
        note(f"could not explain the failure: {error}", "yellow")
        return
    if detailed.trace_hash != failure.trace_hash:
        note(f"warning: replaying the schedule gave trace-hash {detailed.trace_hash}, "
             f"not {failure.trace_hash}: the scenario is not deterministic under simharness", "yellow")
    render.explanation_short(explanation)


def _one_variant(scenario: Scenario, variant: str | None) -> str:
    """`--variant`, or the scenario's only variant when it was left out."""
    if variant is not None:
        return variant
    if len(scenario.variant_names) != 1:
        raise TargetError(f"scenario {scenario.name!r} has several variants: name one with --variant "
                          f"(valid: {', '.join(scenario.variant_names)})")
    return scenario.variant_names[0]


@app.command("replay")
def replay_command_(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="PATH.py, PATH.py::NAME or NAME (one scenario).")],
    schedule: Annotated[str, typer.Option("--schedule", metavar="SCHEDULE", help="Schedule printed by explore.")],
    variant: Annotated[str | None, typer.Option(
        "--variant", "-v", help="Variant the schedule was recorded for (optional if the scenario has one).")] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Print every step and why the run failed.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop (exit 2) at the first decision the run does not offer as recorded, instead of "
                         "following the schedule where it still applies (on changed code, another variant).")] = False,
    max_steps: MaxStepsOption = None,
    faults: FaultsOption = None,
    json_output: JsonOption = False,
    html: HtmlOption = False,
    report_dir: ReportDirOption = DEFAULT_REPORT_DIR,
    scenarios_dir: ScenariosDirOption = DEFAULT_SCENARIOS_DIR,
) -> None:
    """Run one schedule; exit 1 if it fails, 0 if it passes, 2 if it does not fit the scenario.

    A schedule of this variant on unchanged code is replayed exactly. A schedule from
    another variant of the scenario, or one the code no longer fits, is followed where it
    still applies and the output says how far (`--strict` refuses instead).
    """
    decoded = Schedule.decode(schedule)
    settings = _settings(max_steps, faults=faults)
    if html:
        check_writable(report_dir)
    scenario = only_one(_resolve(target, scenarios_dir))
    _check_faults(settings, [scenario])
    variant = _one_variant(scenario, variant)
    detailed = trace or json_output or html
    lenient: LenientReplay | None = None
    if strict:
        result = replay(scenario, variant, decoded, settings, trace=detailed, check_trace=True, accesses=detailed)
    else:
        try:
            result = replay(scenario, variant, decoded, settings, trace=detailed, check_trace=True,
                            accesses=detailed)
        except (ScheduleDivergence, ScheduleDecodeError) as refused:
            if isinstance(refused, ScheduleDecodeError) and "another scenario or variant" not in str(refused):
                raise
            lenient = replay_lenient(scenario, variant, decoded, settings, trace=detailed, accesses=detailed)
            result = lenient.result
            if not json_output:
                note(f"{recorded_on(decoded)}replay {lenient.describe()}"
                     + (f"; recorded for variant {lenient.recorded_variant}"
                        if lenient.recorded_variant != variant else "")
                     + ("; use --strict to stop where it differs" if not lenient.exact else ""), "yellow")
    explanation: Explanation | None = None
    fifo: RunResult | None = None
    if detailed:
        fifo = _fifo_run(scenario, variant, settings, decoded.preemptive)
        explanation = explain(result, fifo)
        if result.failed:  # the failure as durations on the stock runtime
            explanation = replace(explanation, stock_terms=stock_terms(
                scenario, variant, result.schedule.encode(), settings))
    document = replay_document(target, result, fifo, explanation) if detailed else None
    if document is not None and lenient is not None:
        document["lenient"] = {"recorded_variant": lenient.recorded_variant, "recorded": lenient.recorded,
                               "followed": lenient.followed, "departures": lenient.departures,
                               "departures_followed": lenient.departures_followed, "exact": lenient.exact}
    if json_output:
        emit_json(document)
    else:
        render.run_outcome(result)
        if trace:
            render.trace_listing(result.trace, result.decision_log)
            assert explanation is not None
            render.explanation_long(explanation)
    if html and document is not None:
        write_html(document, report_dir, json_output, (scenario,))
    raise typer.Exit(EXIT_FOUND if result.failed else EXIT_OK)



@app.command("shrink")
def shrink_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="PATH.py, PATH.py::NAME or NAME (one scenario).")],
    schedule: Annotated[str, typer.Option("--schedule", metavar="SCHEDULE", help="A failing schedule to shrink.")],
    variant: Annotated[str | None, typer.Option(
        "--variant", "-v", help="Variant the schedule was recorded for (optional if the scenario has one).")] = None,
    max_replays: Annotated[int, typer.Option(
        "--max-replays", metavar="N", help=f"Replays the shrink may use (default {MAX_REPLAYS}).")] = MAX_REPLAYS,
    max_steps: MaxStepsOption = None,
    faults: FaultsOption = None,
    json_output: JsonOption = False,
    scenarios_dir: ScenariosDirOption = DEFAULT_SCENARIOS_DIR,
) -> None:
    """Shrink a failing schedule (from explore --no-shrink or the pytest plugin); exit 1 with the shorter one."""
    settings = _settings(max_steps, faults=faults)
    if not 1 <= max_replays <= MAX_REPLAYS_LIMIT:
        raise ConfigError(f"--max-replays must be from 1 to {MAX_REPLAYS_LIMIT}, got {max_replays}")
    Schedule.decode(schedule)  # a bad schedule is an error before anything loads
    scenario = only_one(_resolve(target, scenarios_dir))
    _check_faults(settings, [scenario])
    variant = _one_variant(scenario, variant)
    shrunk = shrink_schedule(scenario, variant, schedule, settings, max_replays)
    failure = shrunk.result.failure
    assert failure is not None
    line = replay_command(target, variant, shrunk.schedule,
                          scenarios_dir=scenarios_dir if scenarios_dir != DEFAULT_SCENARIOS_DIR
                          and not _is_path_target(target) else None, max_steps=max_steps,
                          faults=settings.fault_selection)
    if json_output:
        emit_json({"target": target, "scenario": shrunk.scenario, "variant": variant, "kind": failure.kind,
                   "message": failure.message, "original_schedule": shrunk.original, "schedule": shrunk.schedule,
                   "original_decisions": shrunk.original_decisions,
                   "original_departures": shrunk.original_departures,
                   "decisions": shrunk.result.schedule.length, "departures": shrunk.result.schedule.deviations,
                   "shrink_replays": shrunk.replays, "trace_hash": shrunk.result.trace_hash, "replay": line})
    else:
        render.shrink_outcome(shrunk, line)
    raise typer.Exit(EXIT_FOUND)
