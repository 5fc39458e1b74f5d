"""The determinism check: run one schedule twice and name the first step that differs.

Scenario code that depends on something simharness does not control (the global
`random`, `id()` order, wall-clock time read through an unpatched path, a thread
racing the loop) makes two runs of one schedule differ. This check makes that
visible instead of letting a replay silently follow another path.
"""

from __future__ import annotations

from dataclasses import dataclass

from simharness.errors import ScheduleDivergence
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.outcome import RunResult, TraceStep
from simharness.scenario import Scenario
from simharness.engine.schedule import Schedule
from simharness.engine.strategies import FifoStrategy, ReplayStrategy
from simharness.engine.strategies.base import Strategy


@dataclass(frozen=True)
class DeterminismReport:
    """Whether two runs of one schedule matched, and where they first differed."""

    deterministic: bool
    steps: int
    first_difference: int | None = None   # 1-based step index
    first: TraceStep | None = None
    second: TraceStep | None = None
    detail: str = ""


def _run(execution: Execution, schedule: Schedule | None) -> RunResult:
    strategy: Strategy = ReplayStrategy(schedule) if schedule is not None else FifoStrategy()
    strategy.begin_run(1)
    result = execution.run(strategy, detail=True)
    strategy.end_run()
    return result


def check_determinism(scenario: Scenario, variant: str, schedule: str | Schedule | None = None,
                      settings: RunSettings | None = None) -> DeterminismReport:
    """Run `schedule` (default: the FIFO order) twice in this process and compare step by step."""
    decoded = Schedule.decode(schedule) if isinstance(schedule, str) else schedule
    base = settings or RunSettings()
    if decoded is not None:
        decoded.check_scope(scenario.name, variant)
        base = RunSettings(**{**base.__dict__, "preemptive": decoded.preemptive})
    with RunEnvironment(base) as environment:
        execution = Execution(scenario, variant, environment)
        first = _run(execution, decoded)
        try:
            second = _run(execution, decoded if decoded is not None else None)
        except ScheduleDivergence as divergence:
            return DeterminismReport(False, first.steps, detail=str(divergence))
    for index, (a, b) in enumerate(zip(first.trace, second.trace), start=1):
        if (a.actor, a.kind, a.label, a.time) != (b.actor, b.kind, b.label, b.time):
            return DeterminismReport(False, first.steps, index, a, b,
                                     f"step {index}: first run ran {a.actor} ({a.label}) at t={a.time:g}, "
                                     f"second run ran {b.actor} ({b.label}) at t={b.time:g}")
    if len(first.trace) != len(second.trace) or first.trace_hash != second.trace_hash:
        shorter = min(len(first.trace), len(second.trace)) + 1
        return DeterminismReport(False, first.steps, shorter, detail=(
            f"runs differ after step {shorter - 1}: {len(first.trace)} vs {len(second.trace)} steps, "
            f"outcome {first.failure.kind if first.failure else 'pass'} vs "
            f"{second.failure.kind if second.failure else 'pass'}"))
    return DeterminismReport(True, first.steps)
