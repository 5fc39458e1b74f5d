"""Hypothesis strategies for schedules: draw test inputs and an interleaving together.

`schedules()` gives a `DrawnSchedule`: a simharness `Strategy` whose choices are drawn
from Hypothesis lazily, one draw per decision (or per actor, see below), while the
run goes. Hypothesis then shrinks the interleaving with the inputs: its integers
shrink toward 0, and choice 0 is native asyncio's order, so a failure shrinks toward
"the default order plus the few departures that matter". Its example database keeps
the failing draws like any other.

    @given(flows=st.lists(flow()), drawn=schedules())
    def test_no_collision(flows, drawn):
        run_with(my_scenario, "buggy", drawn, flows)

`per="decision"` (default) draws each decision's option: every schedule is reachable.
`per="actor"` draws one delay per actor (a timer, a checkpointing task, the ready
queue) when it is first offered, and each decision runs the least-delayed option
(native order on ties): a bug that needs one actor to keep waiting, however many
decisions that takes, is one non-zero draw, which random search finds at once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

from simharness.errors import ConfigError, SimharnessError
from simharness.engine.execution import RunSettings
from simharness.outcome import Failure, RunResult
from simharness.explore.runner import replay, require_simulation, run_strategy
from simharness.scenario import Scenario
from simharness.engine.strategies.base import Option

Per = Literal["decision", "actor"]
#: Delays drawn in `per="actor"` mode lie in 0..MAX_DELAY (0 = never passed over).
MAX_DELAY = 3


@functools.lru_cache(maxsize=256)
def _below(count: int) -> st.SearchStrategy[int]:
    # Strategies are immutable: one per option count, not one per decision.
    return st.integers(0, count - 1)


class DrawnSchedule:
    """A simharness strategy whose choices come from Hypothesis draws (one run only).

    After the run, `schedule` holds the schedule it really followed (the string a
    `simharness replay` or `--sim-replay` takes).
    """

    name = "hypothesis"

    def __init__(self, draw: Callable[[st.SearchStrategy[int]], int], per: Per) -> None:
        self._draw = draw
        self.per = per
        self._delays: dict[str, int] = {}
        self.result: RunResult | None = None
        self._used = False

    @property
    def schedule(self) -> str | None:
        """The schedule the run followed (None before it ran)."""
        return self.result.schedule.encode() if self.result is not None else None

    def begin_run(self, run_index: int) -> bool:
        if self._used:
            raise ConfigError("a drawn schedule runs once: draw a new one for each run")
        self._used = True
        return run_index == 1

    def choose(self, options: Sequence[Option]) -> int:
        if self.per == "decision":
            return self._draw(_below(len(options)))
        delays = self._delays
        for option in options:
            if option.key not in delays:
                delays[option.key] = self._draw(_below(MAX_DELAY + 1))
        return min(range(len(options)), key=lambda index: (delays[options[index].key], index))

    def end_run(self) -> None:
        return None

    def __repr__(self) -> str:
        # Shown in Hypothesis's "Falsifying example" line: the replayable schedule.
        return f"schedule({self.schedule!r})" if self.result is not None else f"schedules(per={self.per!r})"


def schedules(per: Per = "decision") -> st.SearchStrategy[DrawnSchedule]:
    """A Hypothesis strategy of schedules, drawn lazily while the scenario runs."""
    if per not in ("decision", "actor"):
        raise ConfigError(f"schedules(per=...) must be 'decision' or 'actor', got {per!r}")

    @st.composite
    def drawn(draw: st.DrawFn) -> DrawnSchedule:
        # `draw` stays usable for the rest of the example: the run draws through it.
        return DrawnSchedule(draw, per)

    return drawn()


class ScheduleFailure(AssertionError):
    """A scenario run under a drawn schedule failed; the message carries the schedule."""

    def __init__(self, result: RunResult, scenario: Scenario, with_inputs: bool) -> None:
        failure = result.failure
        assert failure is not None
        self.result = result
        self.failure: Failure = failure
        self.schedule = result.schedule.encode()
        if with_inputs:  # the command line cannot pass drawn inputs: replay from Python
            how = (f"replay_with({scenario.function.__name__}, {result.variant!r}, {self.schedule!r}, "
                   "<the inputs of the falsifying example>)")
        else:
            target = f"{_display(scenario.source_file)}::{scenario.name}"
            how = f"simharness replay {target} --variant {result.variant} --schedule {self.schedule}"
        super().__init__(f"{failure.kind}: {failure.message}\nschedule: {self.schedule}\nreplay: {how}")


def run_with(scenario: Scenario | Callable[..., Any], variant: str | None, drawn: DrawnSchedule,
             *arguments: Any, settings: RunSettings | None = None) -> RunResult:
    """Run `scenario` (a `Scenario` or an `@scenario` function) under `drawn`; raise on failure.

    `arguments` are passed to the scenario function after the variant's value, so a
    test can hand it inputs Hypothesis drew (e.g. a list of flows). Raises
    `ScheduleFailure` (an AssertionError) with the followed schedule in its message.
    """
    declared = _as_scenario(scenario)
    name = variant if variant is not None else declared.variant_names[0]
    declared.check_variant(name)
    require_simulation(declared)
    chosen = _with_arguments(declared, arguments) if arguments else declared
    result = run_strategy(chosen, name, drawn, settings)
    drawn.result = result
    if result.failure is not None:
        raise ScheduleFailure(result, declared, bool(arguments))
    return result


def replay_with(scenario: Scenario | Callable[..., Any], variant: str | None, schedule: str,
                *arguments: Any, settings: RunSettings | None = None, trace: bool = False) -> RunResult:
    """Replay a schedule `run_with` reported, with the same drawn inputs (no exception on failure)."""
    declared = _as_scenario(scenario)
    name = variant if variant is not None else declared.variant_names[0]
    chosen = _with_arguments(declared, arguments) if arguments else declared
    return replay(chosen, name, schedule, settings, trace=trace)


def _display(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


def _as_scenario(scenario: Scenario | Callable[..., Any]) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    declared = getattr(scenario, "__simharness_scenario__", None)
    if not isinstance(declared, Scenario):
        raise SimharnessError(f"{scenario!r} is not a Scenario nor declared with @simharness.scenario")
    return declared


@dataclass(frozen=True)
class _Bound:
    """A scenario function with extra trailing arguments bound (drawn inputs)."""

    function: Callable[..., Any]
    arguments: tuple[Any, ...]
    takes_variant: bool

    def __call__(self, *variant: Any) -> Any:
        return self.function(*(variant if self.takes_variant else ()), *self.arguments)


def _with_arguments(scenario: Scenario, arguments: tuple[Any, ...]) -> Scenario:
    # The scenario's name and variant stay the same, so the schedule replays with them
    # (given the same inputs).
    from dataclasses import replace

    from simharness.scenario import DEFAULT_VARIANT
    takes_variant = tuple(scenario.variant_names) != (DEFAULT_VARIANT,)
    bound = _Bound(scenario.function, arguments, takes_variant)
    variants = dict(scenario.variants) if takes_variant else {DEFAULT_VARIANT: None}
    return replace(scenario, function=bound, variants=variants)
