"""The "identical output" oracle: a result must not depend on the schedule.

Many concurrency bugs leave no exception behind: the program finishes, but what it
produced depends on which task happened to finish first (an aggregate built in
completion order, a float sum, a report listing). This oracle explores a scenario (or
any async callable) across schedules on the controlled loop, compares what each run
returns, and reports the first two schedules whose outputs differ, with both outputs
and both schedule strings, so either run can be replayed exactly with
`simharness.replay`.

Inside a scenario the cross-schedule comparison is not available (a run sees one
schedule), so `assert_identical` offers the same oracle against a baseline the scenario
computes itself, typically the sequential run of the same work.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.outcome import Failure
from simharness.explore.runner import ExploreOptions, replay, require_simulation
from simharness.scenario import Scenario
from simharness.engine.strategies import make_strategy

#: Turns an output into the value that is compared (default: the output itself).
OutputKey = Callable[[Any], Any]


@dataclass(frozen=True)
class ScheduledOutput:
    """What one run returned, and the schedule that replays it."""

    run_index: int     # 1-based index within the exploration
    schedule: str      # encoded schedule: `simharness.replay(scenario, variant, schedule)`
    trace_hash: str
    output: Any        # the scenario's return value (None when the run failed)
    failure: Failure | None = None


@dataclass(frozen=True)
class IdenticalCheck:
    """The verdict of the identical-output oracle for one scenario variant."""

    scenario: str
    variant: str
    strategy: str
    runs: int                             # schedules actually run
    exhausted: bool                       # dfs covered the whole (bounded) schedule space
    reference: ScheduledOutput | None     # the first run's output, everything is compared to it
    differing: ScheduledOutput | None     # the first run whose output differs from the reference
    failed_run: ScheduledOutput | None    # a run that failed outright (the comparison stops there)

    @property
    def identical(self) -> bool:
        """True when every explored run passed and returned the same output."""
        return self.differing is None and self.failed_run is None

    def describe(self) -> str:
        """A multi-line explanation for test failures and reports."""
        head = f"{self.scenario} [{self.variant}], {self.runs} schedule(s) by {self.strategy}"
        if self.failed_run is not None and self.failed_run.failure is not None:
            failure = self.failed_run.failure
            return (f"{head}: run {self.failed_run.run_index} failed ({failure.kind}: {failure.message})\n"
                    f"  schedule: {self.failed_run.schedule}")
        if self.differing is None or self.reference is None:
            scope = "every schedule" if self.exhausted else "every explored schedule"
            return f"{head}: identical output under {scope}"
        return (f"{head}: output differs between runs {self.reference.run_index} and "
                f"{self.differing.run_index}\n"
                f"  schedule A: {self.reference.schedule}\n"
                f"  schedule B: {self.differing.schedule}\n"
                + output_diff(self.reference.output, self.differing.output, "schedule A", "schedule B"))


def output_diff(first: Any, second: Any, first_name: str = "reference", second_name: str = "output") -> str:
    """A readable difference of two outputs: a unified diff of their text forms."""
    left = first if isinstance(first, str) else repr(first)
    right = second if isinstance(second, str) else repr(second)
    lines = difflib.unified_diff(left.splitlines(), right.splitlines(), first_name, second_name, lineterm="")
    text = "\n".join(lines)
    return text or f"{first_name}: {left!r}\n{second_name}: {right!r}"


def assert_identical(output: Any, reference: Any, what: str = "output") -> None:
    """Inside a scenario: fail (AssertionError) unless `output == reference`, with a diff.

    Use it with a baseline the scenario computes itself, e.g. the same work run
    sequentially: the differential form of the identical-output oracle.
    """
    if output != reference:
        raise AssertionError(f"{what} differs from the reference:\n"
                             + output_diff(reference, output, "reference", what))


def _capturing(scenario: Scenario, box: list[Any]) -> Scenario:
    """The same scenario (same name, so schedules stay replayable) with its return value kept."""
    original = scenario.function

    async def capture(*args: Any) -> Any:
        value = await original(*args)
        box.append(value)
        return value

    return dataclasses.replace(scenario, function=capture)


def explore_identical(scenario: Scenario, variant: str | None = None, options: ExploreOptions | None = None,
                      settings: RunSettings | None = None, *, key: OutputKey | None = None) -> IdenticalCheck:
    """Explore `variant` of `scenario` and check that every schedule returns the same output.

    The default options explore depth-first (exhaustively where the space is small).
    The exploration stops at the first output that differs from the first run's, or at
    the first run that fails outright.
    """
    variant = scenario.check_variant(variant or scenario.variant_names[0])
    require_simulation(scenario)
    options = options or ExploreOptions(strategy="dfs", runs=1000)
    compare = key or (lambda value: value)
    box: list[Any] = []
    strategy = make_strategy(options.strategy, seed=options.seed, depth=options.depth, bound=options.bound)
    reference: ScheduledOutput | None = None
    differing: ScheduledOutput | None = None
    failed_run: ScheduledOutput | None = None
    runs = 0
    with RunEnvironment(settings or RunSettings()) as environment:
        execution = Execution(_capturing(scenario, box), variant, environment)
        for index in range(1, options.runs + 1):
            if not strategy.begin_run(index):
                break
            box.clear()
            result = execution.run(strategy)
            strategy.end_run()
            runs = index
            seen = ScheduledOutput(index, result.schedule.encode(), result.trace_hash,
                                   box[0] if box and not result.failed else None, result.failure)
            if result.failed:
                failed_run = seen
                break
            if reference is None:
                reference = seen
            elif compare(seen.output) != compare(reference.output):
                differing = seen
                break
    return IdenticalCheck(
        scenario=scenario.name, variant=variant, strategy=options.strategy, runs=runs,
        exhausted=bool(getattr(strategy, "exhausted", False)), reference=reference,
        differing=differing, failed_run=failed_run,
    )


def identical_outputs(function: Callable[[], Awaitable[Any]], options: ExploreOptions | None = None,
                      settings: RunSettings | None = None, *, name: str = "identical-outputs",
                      key: OutputKey | None = None) -> tuple[IdenticalCheck, Scenario]:
    """Check an async callable (no scenario file needed) for schedule-independent output.

    Returns the verdict and the ad-hoc scenario it ran, so a differing schedule can be
    replayed: `simharness.replay(scenario, "default", check.differing.schedule)`.
    """

    async def run(_: object) -> Any:
        return await function()

    code = function.__code__ if hasattr(function, "__code__") else run.__code__
    adhoc = Scenario(name=name, function=run, variants={"default": None}, expect={},
                     source_file=code.co_filename, source_line=code.co_firstlineno,
                     doc=(function.__doc__ or "").strip())
    return explore_identical(adhoc, "default", options, settings, key=key), adhoc


def replay_output(scenario: Scenario, variant: str, schedule: str,
                  settings: RunSettings | None = None) -> ScheduledOutput:
    """Replay one schedule of `scenario` and return what it produced (to inspect a divergence)."""
    box: list[Any] = []
    result = replay(_capturing(scenario, box), variant, schedule, settings)
    return ScheduledOutput(1, result.schedule.encode(), result.trace_hash,
                           box[0] if box and not result.failed else None, result.failure)
