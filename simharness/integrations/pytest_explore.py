"""Exploring one pytest item: each schedule is one full run of the item on a fresh loop.

A schedule runs pytest's own setup, call and teardown of the item (`runtestprotocol`),
so every function-scoped fixture is created anew and torn down after it; only the
item itself is torn down between schedules (wider-scoped fixtures stay, as between
two tests). The runs are not logged. Then one more run is logged, which pytest sees
as the test's result: the shrunk failing schedule, or the default order when every
schedule passed, or a skip saying which API simulation refused.

`ItemExecution.run(strategy)` has the shape of `engine.execution.Execution.run`, so
the explorer's shrinker works on it unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from simharness.engine.access_tracing import recording
from simharness.engine.accesses import AccessRecorder
from simharness.engine.execution import RunEnvironment, RunSettings
from simharness.engine.schedule import Schedule, schedule_from
from simharness.engine.strategies import FifoStrategy, ReplayStrategy, make_strategy
from simharness.engine.strategies.base import Strategy
from simharness.engine.trace import DetailedTrace, with_accesses
from simharness.errors import ScheduleDivergence
from simharness.explore.raced import raced_lines, raced_states
from simharness.explore.shrink import shrink_failure
from simharness.explore.store import StoreSession
from simharness.integrations.pytest_loop import (
    TIME_MACHINE_REFUSAL, NotOnOurLoop, RealWallClock, ScheduleRun, WallClockConflict,
)
from simharness.integrations.pytest_select import is_anyio
from simharness.outcome import RunResult

VARIANT = "default"


@dataclass
class ItemOutcome:
    """What exploring one item found (for its report, its JUnit properties and the summary)."""

    status: str = "passed"                 # passed, failed, unsupported, left-alone, replay
    schedules: int = 0
    failure: RunResult | None = None
    original: RunResult | None = None
    run_index: int = 0                     # 0: a schedule remembered in the failure store
    strategy: str = ""
    seed: int = 0
    detail: str = ""                       # the refused API, or why it was left alone
    stopped: str = ""                      # why exploration stopped early (wall-time limit)
    notes: list[str] = field(default_factory=list)
    last_reports: list[Any] = field(default_factory=list)


class ItemExecution:
    """Runs the item once per call, under a strategy, in a shared run environment."""

    def __init__(self, item: pytest.Item, name: str, environment: RunEnvironment) -> None:
        self.item = item
        self.environment = environment
        self.settings = environment.settings
        self.scenario_name = name
        self.variant = VARIANT
        self.unsupported = ""
        self.own_clock = isinstance(environment.clock, RealWallClock)

    def protocol(self, strategy: Strategy | None, nextitem: Any, *, log: bool = False,
                 detail: bool = False, recorder: AccessRecorder | None = None) -> tuple[ScheduleRun, list[Any]]:
        with ScheduleRun(self.environment, strategy, detail=detail or recorder is not None) as run:
            if isinstance(run.observer, DetailedTrace):
                run.observer.recorder = recorder  # who runs each step, for the accesses
            with recording(recorder):
                reports = runtestprotocol(self.item, log=log, nextitem=nextitem)
        return run, reports

    last_reports: list[Any] = []
    last_skipped = False
    loop_made = False

    def run(self, strategy: Strategy, *, detail: bool = False, nextitem: Any = None, log: bool = False,
            accesses: bool = False) -> RunResult:
        recorder = AccessRecorder() if accesses else None
        run, reports = self.protocol(strategy, nextitem if nextitem is not None else self.item.parent,
                                     log=log, detail=detail, recorder=recorder)
        loop = run.loop
        if loop is None and strategy is not None and any(r.when == "call" for r in reports):
            raise NotOnOurLoop("ran on anyio's runner of an earlier test (a wider-scoped async fixture holds it)"
                               if is_anyio(self.item) else
                               "ran on an event loop from another pytest_asyncio_loop_factories hook")
        if loop is not None and loop.unsupported is not None:
            self.unsupported = loop.unsupported.api
        self.last_reports = reports
        self.loop_made = loop is not None
        self.last_skipped = run.skipped(reports)
        failure = run.failure(reports)
        if failure is not None and TIME_MACHINE_REFUSAL in failure.message and not self.own_clock:
            raise WallClockConflict(failure.message)
        observer = run.observer
        recorded = recorder.accesses() if recorder is not None else None
        decisions = loop.decisions if loop is not None else []
        trace_hash = observer.digest(f"{failure.kind if failure else 'pass'}|{self.scenario_name}|{VARIANT}")
        return RunResult(
            scenario=self.scenario_name, variant=VARIANT, failure=failure,
            schedule=schedule_from(self.scenario_name, VARIANT, self.settings.preemptive, decisions, trace_hash),
            trace_hash=trace_hash, steps=loop.steps if loop is not None else 0,
            virtual_time=loop.time() if loop is not None else 0.0,
            trace=(with_accesses(getattr(observer, "steps", ()), recorded) if recorded
                   else tuple(getattr(observer, "steps", ()))),
            decision_log=tuple(getattr(observer, "decisions", ())), accesses=recorded,
        )


def replay_in(execution: ItemExecution, schedule: Schedule, **kwargs: Any) -> RunResult:
    strategy = ReplayStrategy(schedule)
    strategy.begin_run(1)
    return execution.run(strategy, **kwargs)


def explore_item(item: pytest.Item, name: str, *, strategy: str, runs: int, seed: int, depth: int,
                 store: Any, timeout_s: float, nextitem: Any, replay: Schedule | None = None) -> ItemOutcome:
    """Explore `item`; its one reported run is left in `last_reports` for the caller to log."""
    settings = RunSettings(blocked_loop_s=min(10.0, timeout_s))
    started = time.monotonic()
    for wall_clock in (True, False):
        outcome = ItemOutcome(strategy=strategy, seed=seed)
        environment = RunEnvironment(settings)
        if not wall_clock:
            environment.clock = RealWallClock()  # type: ignore[assignment]
            outcome.notes.append("ran without the virtual wall clock: the test starts time-machine")
        with environment:
            execution = ItemExecution(item, name, environment)
            try:
                _explore(execution, outcome, strategy=strategy, runs=runs, seed=seed, depth=depth, store=store,
                         timeout_s=timeout_s, nextitem=nextitem, replay=replay, started=started)
            except WallClockConflict:
                continue
            except NotOnOurLoop as error:
                outcome.status, outcome.detail = "left-alone", str(error)
            finally:
                outcome.last_reports = execution.last_reports
        break
    return outcome


def _explore(execution: ItemExecution, outcome: ItemOutcome, *, strategy: str, runs: int, seed: int, depth: int,
             store: Any, timeout_s: float, nextitem: Any, replay: Schedule | None, started: float) -> None:
    name = execution.scenario_name
    if replay is not None:
        outcome.status = "replay"
        try:
            result = replay_in(execution, replay, detail=True, accesses=True, nextitem=nextitem)
        except ScheduleDivergence as divergence:
            outcome.notes.append(str(divergence))
            return
        outcome.schedules = 1
        outcome.failure = result if result.failed else None
        outcome.notes += _raced(result)
        return
    # A store file that does not exist yet is created only when there is a failure to remember.
    remembered = StoreSession.open(store if store is not None and store.path.exists() else None, name, VARIANT)
    found: RunResult | None = None
    for stored in remembered.schedules:
        try:
            result = replay_in(execution, stored)
        except ScheduleDivergence as divergence:
            remembered.forget(stored, f"it diverges now ({divergence.detail})")
            continue
        if execution.unsupported:
            break
        if result.failed:
            found, outcome.run_index = result, 0
            break
        remembered.forget(stored, "it passes now", fixed=True)
    chooser = make_strategy(strategy, seed=seed, depth=depth)
    index = 0
    while found is None and not execution.unsupported and index < runs:
        if time.monotonic() - started > timeout_s:
            outcome.stopped = f"wall-time limit of {timeout_s:g} s reached after {index} of {runs} schedules"
            break
        index += 1
        if not chooser.begin_run(index):
            break
        try:
            result = execution.run(chooser)
        except ScheduleDivergence:
            continue  # only replays diverge; a strategy's own run never does
        chooser.end_run()
        outcome.schedules = index
        if execution.last_skipped:
            break  # the test skipped itself: the logged run below says so
        if result.failed:
            found, outcome.run_index = result, index
    if execution.unsupported:
        outcome.status, outcome.detail = "unsupported", execution.unsupported
        return  # the caller logs the skip or the stock run
    if found is not None and not execution.loop_made:
        # It failed before any event loop existed (a setup error): nothing of simulation to
        # report or remember; the logged run shows pytest's own error.
        fifo = FifoStrategy()
        fifo.begin_run(1)
        execution.run(fifo, nextitem=nextitem)
        outcome.status = "failed"
        return
    if found is not None:
        assert found.failure is not None
        outcome.original = found
        shrunk, _ = shrink_failure(_Deadline(execution, started + timeout_s, outcome), found)  # type: ignore[arg-type]
        try:
            final = replay_in(execution, shrunk.schedule, detail=True, accesses=True, nextitem=nextitem)
            outcome.notes += _raced(final)
        except ScheduleDivergence as divergence:
            final = shrunk
            outcome.notes.append(f"the shrunk schedule did not replay the same way: {divergence.detail}")
            execution.run(FifoStrategy(), nextitem=nextitem)
        outcome.status = "failed"
        outcome.failure = final if final.failed else shrunk
        if not final.failed:
            outcome.notes.append("the shrunk schedule passed when replayed: the test is not deterministic")
        if found.failure.kind != "crash":
            remembered.store = remembered.store or store
            remembered.remember(_found(outcome), strategy=strategy, seed=seed, depth=depth, runs=runs)
        return
    # Every schedule passed: the logged run is the default order (asyncio's own).
    fifo = FifoStrategy()
    fifo.begin_run(1)
    final = execution.run(fifo, detail=True, nextitem=nextitem)
    if final.failed:
        outcome.status, outcome.failure, outcome.original, outcome.run_index = "failed", final, final, runs + 1
    return


def _raced(result: RunResult) -> list[str]:
    """The shared state a failing replay raced on, in words (without a FIFO run to compare with)."""
    if result.accesses is None or not result.failed:
        return []
    return raced_lines(raced_states(result.accesses), recorded=True, failed=result.failed)


class _Deadline:
    """The execution as the shrinker sees it: past the wall-time limit, candidates are refused unrun."""

    def __init__(self, execution: ItemExecution, deadline: float, outcome: ItemOutcome) -> None:
        self._execution, self._deadline, self._outcome = execution, deadline, outcome
        self.settings, self.scenario_name, self.variant = execution.settings, execution.scenario_name, VARIANT

    def run(self, strategy: Strategy, **kwargs: Any) -> RunResult:
        if time.monotonic() <= self._deadline:
            return self._execution.run(strategy, **kwargs)
        note = "shrinking stopped at the wall-time limit (--sim-timeout)"
        if note not in self._outcome.notes:
            self._outcome.notes.append(note)
        empty = schedule_from(self.scenario_name, VARIANT, False, [])
        return RunResult(scenario=self.scenario_name, variant=VARIANT, failure=None, schedule=empty,
                         trace_hash="", steps=0, virtual_time=0.0)


def _found(outcome: ItemOutcome) -> Any:
    from simharness.outcome import FoundFailure
    failure = outcome.failure
    assert failure is not None and failure.failure is not None
    original = outcome.original or failure
    return FoundFailure(kind=failure.failure.kind, message=failure.failure.message,
                        schedule=failure.schedule.encode(), trace_hash=failure.trace_hash,
                        run_index=outcome.run_index, steps=failure.steps,
                        original_schedule=original.schedule.encode(), preemptive=False, shrink_replays=0)


def run_unexplored(item: pytest.Item, nextitem: Any, reason: str) -> None:
    """Log one ordinary run on the stock loop (an unsupported test, `--sim-unsupported stock`)."""
    item.user_properties.append(("simharness", f"unsupported in simulation: {reason} (ran on the stock loop)"))
    runtestprotocol(item, log=True, nextitem=nextitem)
