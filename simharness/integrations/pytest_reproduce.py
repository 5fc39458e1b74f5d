"""`pytest --sim-reproduce FILE`: the failed tests of a CI run, each searched for its recorded failure.

FILE is what the CI run left (JUnit XML, pytest's output, a traceback with a test id):
every failed test it names is selected (the others are deselected) and explored with
its recorded failure as the target (`explore/reproduce`). A reproduced test fails
with the shrunk schedule, the steps that matter and its `--sim-replay` line, and the
schedule goes into the failure store, so the next plain `pytest --sim` replays it
first. A test not reproduced is skipped, saying in how many schedules and which
failures came closest. `simharness reproduce PATH::TEST` drives the same code
in-process and reads the results from `Request.results`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from simharness.engine.execution import RunEnvironment, RunSettings
from simharness.engine.strategies import FifoStrategy
from simharness.explore.explain import Explanation, explain
from simharness.explore.reproduce import (
    FailureFileError, FailureTarget, Reproduction, SearchOptions, check_belongs, read_failures, reproduce,
)
from simharness.errors import ConfigError
from simharness.explore.reproduce.outcome import TestReproduction, seen_text
from simharness.explore.reproduce.search import BASE_STRATEGIES, Candidate
from simharness.explore.store import StoreSession
from simharness.integrations.pytest_explore import VARIANT, ItemExecution, replay_in
from simharness.integrations.pytest_options import CONFIG_KEY, seed_for_test
from simharness.integrations.pytest_report import add_properties, departures, replay_command, scenario_name
from simharness.outcome import FoundFailure, RunResult

#: Schedules per test when --sim-runs does not say.
DEFAULT_RUNS = 200
#: Name under which `simharness reproduce` registers its `Request`.
REQUEST_PLUGIN = "simharness-reproduce-request"
TARGETS_KEY = pytest.StashKey[dict[str, FailureTarget]]()


@dataclass(eq=False)  # registered as a pytest plugin, which must be hashable
class Request:
    """`simharness reproduce`'s order to the plugin: one target per test id; results come back here."""

    targets: dict[str, FailureTarget]
    runs: int
    seed: int
    strategy: str
    depth: int
    results: list[TestReproduction] = field(default_factory=list)


def load_targets(config: pytest.Config) -> dict[str, FailureTarget]:
    """test id -> recorded failure, from `--sim-reproduce FILE` or `simharness reproduce`'s request."""
    request = config.pluginmanager.get_plugin(REQUEST_PLUGIN)
    if request is not None:
        return dict(request.targets)
    path = config.getoption("sim_reproduce", None)
    if path is None:
        return {}
    try:
        failures = read_failures(path, root=Path(config.rootpath))
    except FailureFileError as error:
        raise pytest.UsageError(f"simharness: --sim-reproduce: {error}") from None
    named = {f.test_id: f for f in reversed(failures) if "::" in f.test_id}  # the first record of each test wins
    if not named:
        raise pytest.UsageError(f"simharness: --sim-reproduce: {path} names no test id "
                                "(give the test: simharness reproduce PATH::TEST --failure FILE)")
    return named


def select_items(config: pytest.Config, items: list[pytest.Item]) -> set[str]:
    """Keep only the tests with a recorded failure; return their ids (empty: not reproducing)."""
    targets = load_targets(config)
    if config.pluginmanager.get_plugin(REQUEST_PLUGIN) is not None and len(targets) == 1:
        # `simharness reproduce` gave pytest exactly this test: each collected item
        # (a parametrized test's cases, a node id relative to another rootdir) is it.
        only = next(iter(targets.values()))
        targets = {item.nodeid: only for item in items}
    config.stash[TARGETS_KEY] = targets
    if not targets:
        return set()
    sim = config.stash[CONFIG_KEY]
    if sim.strategy is not None and sim.strategy not in BASE_STRATEGIES:
        raise pytest.UsageError(f"simharness: --sim-reproduce searches with portfolio, pct or random, not {sim.strategy!r}")
    try:
        _options(config, "")
    except ConfigError as error:  # --sim-runs over the cap
        raise pytest.UsageError(f"simharness: --sim-reproduce: {error}") from None
    kept = [item for item in items if item.nodeid in targets]
    if not kept:
        shown = ", ".join(sorted(targets)[:5]) + (" ..." if len(targets) > 5 else "")
        raise pytest.UsageError(f"simharness: --sim-reproduce: none of the failed tests was collected: {shown} "
                                "(run from the rootdir of the CI run, or select those tests)")
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in targets])
    items[:] = kept
    return {item.nodeid for item in kept}


def _options(config: pytest.Config, node_id: str) -> SearchOptions:
    request = config.pluginmanager.get_plugin(REQUEST_PLUGIN)
    if request is not None:
        return SearchOptions(runs=request.runs, seed=request.seed, strategy=request.strategy, depth=request.depth)
    sim = config.stash[CONFIG_KEY]
    seed = seed_for_test(sim.seed, node_id) if sim.seed_given else 0  # deterministic unless asked otherwise
    strategy = sim.strategy or "portfolio"
    return SearchOptions(runs=sim.runs or DEFAULT_RUNS, seed=seed, strategy=strategy)


def wanted(item: pytest.Item) -> bool:
    return item.nodeid in item.config.stash.get(TARGETS_KEY, {})


def protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """Search, then log one run: the reproduction (failed) or a skip that says what was found."""
    config = item.config
    sim = config.stash[CONFIG_KEY]
    target = config.stash[TARGETS_KEY][item.nodeid]
    options = _options(config, item.nodeid)
    outcome = TestReproduction(item.nodeid, target, Reproduction(False, 0))
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    try:
        check_belongs(target, (str(item.path),), item.nodeid)
    except FailureFileError as error:
        outcome.error = str(error)
    reports: list[Any] = []
    if not outcome.error:
        deadline = time.monotonic() + sim.timeout_s
        with RunEnvironment(RunSettings(blocked_loop_s=min(10.0, sim.timeout_s))) as environment:
            execution = ItemExecution(item, scenario_name(item), environment)
            outcome.found = reproduce(execution, target, options, stop=lambda: time.monotonic() > deadline)
            if outcome.found.reproduced and outcome.found.result is not None:
                reports = _log_reproduction(item, execution, outcome, nextitem, sim)
    request = config.pluginmanager.get_plugin(REQUEST_PLUGIN)
    if request is not None:
        request.results.append(outcome)
    if not reports:
        reason = outcome.error or not_reproduced_text(outcome.found)
        item.add_marker(pytest.mark.skip(reason=f"simharness: {reason}"))
        reports = runtestprotocol(item, log=False, nextitem=nextitem)
    reproduced = "reproduced" if outcome.found.reproduced else "not-reproduced"
    add_properties(item, reports, [("simharness_status", "failed" if outcome.found.reproduced else "passed"),
                                   ("simharness_reproduce", reproduced), ("simharness_schedules", outcome.found.runs)])
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _log_reproduction(item: pytest.Item, execution: ItemExecution, outcome: TestReproduction,
                      nextitem: pytest.Item | None, sim: Any) -> list[Any]:
    found = outcome.found
    assert found.result is not None and found.result.failure is not None
    fifo = FifoStrategy()
    fifo.begin_run(1)
    default_run = execution.run(fifo, detail=True)
    final = replay_in(execution, found.result.schedule, detail=True, nextitem=nextitem)
    reports = list(execution.last_reports)
    schedule = found.result.schedule.encode()
    outcome.replay = replay_command(item, sim.plugin_flag, schedule)
    if final.failed:
        outcome.explanation = explain(final, default_run)
    _remember(sim, item, found, final if final.failed else found.result)
    failed = [r for r in reports if r.outcome == "failed"]
    text = "\n".join([reproduced_text(outcome.target, found), *departures(final),
                      f"schedule: {schedule}", f"replay: {outcome.replay}", "",
                      str(failed[0].longrepr) if failed else ""])
    target_report = failed[0] if failed else next((r for r in reports if r.when == "call"), reports[0])
    target_report.outcome, target_report.longrepr = "failed", text
    return reports


def _remember(sim: Any, item: pytest.Item, found: Reproduction, result: RunResult) -> None:
    assert result.failure is not None
    session = StoreSession.open(sim.store, scenario_name(item), VARIANT)
    session.store = session.store or sim.store
    session.remember(FoundFailure(kind=result.failure.kind, message=result.failure.message,
                                  schedule=result.schedule.encode(), trace_hash=result.trace_hash,
                                  run_index=found.run_index, steps=result.steps,
                                  original_schedule=found.original_schedule, shrink_replays=found.shrink_replays),
                     strategy="reproduce", seed=0, depth=0, runs=found.runs)


def reproduced_text(target: FailureTarget, found: Reproduction) -> str:
    return (f"simharness: reproduced the recorded failure ({target.describe()}; {seen_text(target)}) "
            f"after {found.run_index:,} schedule(s)")


def candidate_text(candidate: Candidate) -> str:
    return (f"{candidate.kind}: {candidate.message} (run {candidate.run_index}, {candidate.count}x; "
            f"differs: {'; '.join(candidate.comparison.differences)}; schedule {candidate.schedule})")


def not_reproduced_text(found: Reproduction) -> str:
    text = f"not reproduced in {found.runs:,} schedule(s)" + (" (wall-time limit reached)" if found.stopped else "")
    if found.closest:
        text += "; closest: " + " | ".join(candidate_text(c) for c in found.closest)
    return text
