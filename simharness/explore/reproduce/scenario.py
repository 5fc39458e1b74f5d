"""Reproducing a recorded failure of a scenario variant, and remembering the schedule that does it."""

from __future__ import annotations

import os
from collections.abc import Callable

from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.explore.reproduce.match import user_frames
from simharness.explore.reproduce.search import Reproduction, SearchOptions, reproduce
from simharness.explore.reproduce.target import FailureFileError, FailureTarget
from simharness.explore.runner import require_simulation
from simharness.explore.store import StoreArg, StoreSession
from simharness.outcome import FoundFailure
from simharness.scenario import Scenario


def check_belongs(target: FailureTarget, files: tuple[str, ...], name: str) -> None:
    """Refuse a traceback that never passes through the test's own file(s): it is from another test.

    Applied only to targets with user frames; `name` is the test or scenario for the message.
    """
    frames = user_frames(target.frames)
    if not frames:
        return
    names = {os.path.basename(f) for f in files}
    if not any(os.path.basename(f.file) in names for f in frames):
        raise FailureFileError(f"the recorded traceback never passes through {', '.join(sorted(names))}: "
                               f"it is from another test than {name}")


def reproduce_scenario(scenario: Scenario, variant: str, target: FailureTarget,
                       options: SearchOptions | None = None, settings: RunSettings | None = None, *,
                       store: StoreArg = None,
                       progress: Callable[[int, int], None] | None = None) -> Reproduction:
    """Search schedules of one variant for `target`; a reproduction is written to `store`.

    The explorer replays the store's schedules first, so the next `explore` (or
    `pytest --sim` for a test) starts from the reproduction.
    """
    options = options or SearchOptions()
    scenario.check_variant(variant)
    require_simulation(scenario)
    with RunEnvironment(settings or RunSettings()) as environment:
        found = reproduce(Execution(scenario, variant, environment), target, options, progress=progress)
    if found.reproduced and found.result is not None and found.result.failure is not None:
        result = found.result
        assert result.failure is not None
        StoreSession.open(store, scenario.name, variant).remember(
            FoundFailure(kind=result.failure.kind, message=result.failure.message, schedule=result.schedule.encode(),
                         trace_hash=result.trace_hash, run_index=found.run_index, steps=result.steps,
                         original_schedule=found.original_schedule, shrink_replays=found.shrink_replays),
            strategy=f"reproduce-{options.strategy}", seed=options.seed, depth=options.depth, runs=options.runs)
    return found
