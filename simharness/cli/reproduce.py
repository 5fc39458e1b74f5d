"""`simharness reproduce [TARGET] --failure FILE`: from a recorded failure to a replayable schedule.

TARGET is a scenario (`NAME`, `PATH.py`, `PATH.py::NAME`) or a pytest test id
(`PATH.py::TEST`, a marked or unchanged pytest-asyncio test); left out, it is the test
the failure file names. Exit codes: 1 when a failure was found (the recorded one, or
only others: the first line says which), 0 when every schedule passed, 2 bad input.
"""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from simharness.cli import render
from simharness.cli.app import app
from simharness.cli.common import (
    EXIT_FOUND, EXIT_OK, JsonOption, MaxStepsOption, ProgressBar, ScenariosDirOption, emit_json, note,
    progress_enabled,
)
from simharness.cli.core import DEFAULT_SCENARIOS_DIR, MAX_SEED, _fifo_run, _settings
from simharness.cli.reproduce_show import document, show
from simharness.discovery import load_file, resolve
from simharness.errors import ConfigError, SimharnessError, TargetError
from simharness.explore.explain import explain
from simharness.explore.reproduce import (
    FailureFileError, FailureTarget, SearchOptions, check_belongs, read_failures, reproduce_scenario,
)
from simharness.explore.runner import replay
from simharness.explore.serialize import replay_command
from simharness.explore.store import FailureStore, StoreArg, StoreWarning
from simharness.explore.reproduce.outcome import TestReproduction
from simharness.scenario import Scenario

DEFAULT_RUNS = 500


def _pick(failures: list[FailureTarget], target: str | None, path: str) -> tuple[str, FailureTarget]:
    """The test to reproduce and its recorded failure; a mismatch is a one-line error."""
    named = sorted({f.test_id for f in failures if f.test_id})
    if target is None:
        if not named:
            raise FailureFileError(f"{path} does not say which test failed: give TARGET (a scenario or PATH::TEST)")
        if len(named) > 1:
            raise FailureFileError(f"{path} records failures of {len(named)} tests ({', '.join(named[:5])}"
                                   f"{' ...' if len(named) > 5 else ''}): name one as TARGET "
                                   "(or run pytest --sim-reproduce FILE for all)")
        target = named[0]
    if not named:
        return target, failures[0]
    for failure in failures:
        if _same_test(failure.test_id, target):
            return target, failure
    raise FailureFileError(f"{path} records no failure of {target}: it is from another test "
                           f"({', '.join(named[:5])})")


def _same_test(recorded: str, target: str) -> bool:
    """`tests/test_x.py::t` and `./tests/test_x.py::t`, `race.py::lost-update` and `lost-update` are the same."""
    def parts(text: str) -> tuple[str, str]:
        path, _, name = text.rpartition("::")
        return path.removeprefix("./"), name
    (one_path, one), (other_path, other) = parts(recorded), parts(target)
    if one != other:
        return False
    return not one_path or not other_path or one_path.endswith(other_path) or other_path.endswith(one_path)


def _scenario(target: str, scenarios_dir: str) -> Scenario | None:
    """The scenario TARGET names, or None when it is a pytest test id."""
    path, sep, name = target.partition("::")
    if sep and path.endswith(".py"):
        scenarios = load_file(path)
        chosen = [s for s in scenarios if s.name == name]
        if chosen:
            return chosen[0]
        from simharness.integrations.reproduce_test import is_test_id  # imports pytest: only here

        if is_test_id(target):
            return None
        raise TargetError(f"no scenario or test named {name!r} in {path}")
    selection = resolve(target, scenarios_dir)
    if len(selection.scenarios) != 1:
        raise TargetError(f"{target} holds {len(selection.scenarios)} scenarios: name one (PATH.py::NAME)")
    return selection.scenarios[0]


@app.command("reproduce")
def reproduce_command(
    target: Annotated[str | None, typer.Argument(
        metavar="[TARGET]", help="Scenario (NAME, PATH.py::NAME) or pytest test id (PATH.py::TEST); "
                                 "default: the test the failure file names.")] = None,
    failure: Annotated[str, typer.Option(
        "--failure", metavar="FILE", help="The recorded failure: pytest output, a traceback, JUnit XML, "
                                          "or a stress run log.")] = "",
    variant: Annotated[str | None, typer.Option("--variant", metavar="V", help="Scenario variant to search.")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", metavar="N", help="Schedules to search (per variant).")]
    = DEFAULT_RUNS,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Seed of the search.")] = 0,
    strategy: Annotated[str, typer.Option(
        "--strategy", metavar="NAME", help="Fresh schedules: portfolio, pct or random.")] = "portfolio",
    depth: Annotated[int, typer.Option("--depth", metavar="D", help="PCT depth.")] = 3,
    max_steps: MaxStepsOption = None,
    scenarios_dir: ScenariosDirOption = DEFAULT_SCENARIOS_DIR,
    store: Annotated[str | None, typer.Option("--store", metavar="PATH", help="Failure store file.")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not write the reproduction to the store.")]
    = False,
    json_output: JsonOption = False,
) -> None:
    """Search for a schedule that fails the way a recorded (CI, stock-runtime) failure did."""
    if not failure:
        raise ConfigError("--failure FILE is required: the recorded failure to reproduce")
    if abs(seed) > MAX_SEED:
        raise ConfigError(f"--seed must be between -{MAX_SEED} and {MAX_SEED}, got {seed}")
    options = SearchOptions(runs=runs, seed=seed, strategy=strategy, depth=depth)
    settings = _settings(max_steps)
    chosen, recorded = _pick(read_failures(failure), target, failure)
    scenario = _scenario(chosen, scenarios_dir)
    if scenario is None:
        check_belongs(recorded, (chosen.partition("::")[0],), chosen)
        if variant is not None:
            raise ConfigError("--variant applies to scenarios; a pytest test has no variants")
        with ProgressBar(chosen, enabled=progress_enabled(json_output)):
            store_args = ("--sim-store", "off") if no_store else (("--sim-store", store) if store else ())
            from simharness.integrations.reproduce_test import reproduce_test  # imports pytest

            outcome = reproduce_test(chosen, recorded, options, store_args)
        if outcome.error:
            raise FailureFileError(outcome.error)
        _finish([outcome], chosen, failure, json_output, stored=not no_store)
        return
    check_belongs(recorded, (scenario.source_file,), scenario.name)
    remembered: StoreArg = None if no_store else (store if store is not None else FailureStore.default())
    variants = [variant] if variant else ([recorded.variant] if recorded.variant else list(scenario.variant_names))
    outcomes: list[TestReproduction] = []
    for name in variants:
        scenario.check_variant(name)
        with ProgressBar(f"{scenario.name} [{name}]", enabled=progress_enabled(json_output)) as bar, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", StoreWarning)
            found = reproduce_scenario(scenario, name, recorded, options, settings, store=remembered, progress=bar)
        outcome = TestReproduction(f"{scenario.name} [{name}]", recorded, found)
        if found.reproduced and found.result is not None:
            line_target = chosen if "::" in chosen else scenario.name
            custom = scenarios_dir if scenarios_dir != DEFAULT_SCENARIOS_DIR and "::" not in chosen else None
            outcome.replay = replay_command(line_target, name, found.result.schedule.encode(),
                                            scenarios_dir=custom, max_steps=max_steps)
            try:
                detailed = replay(scenario, name, found.result.schedule, settings, trace=True, accesses=True)
                outcome.explanation = explain(detailed, _fifo_run(scenario, name, settings, False))
            except SimharnessError as error:
                note(f"could not explain the failure: {error}", "yellow")
        outcomes.append(outcome)
        if found.reproduced:
            break
    _finish(outcomes, chosen, failure, json_output, stored=remembered is not None)


def _finish(outcomes: list[TestReproduction], target: str, failure: str, json_output: bool, *,
            stored: bool = True) -> None:
    if json_output:
        emit_json(document(target, failure, outcomes))
    else:
        for outcome in outcomes:
            show(outcome, stored=stored)
            if outcome.explanation is not None:
                render.explanation_short(outcome.explanation)
    found_any = any(o.found.reproduced or o.found.others for o in outcomes)
    raise typer.Exit(EXIT_FOUND if found_any else EXIT_OK)
