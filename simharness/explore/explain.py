"""Why a run failed: where its schedule departed from the default (FIFO) order.

All-zero choices are the stock asyncio run, so the decisions that took another
option are what made this run different. For each of them the explanation names
the options offered (they name tasks and awaited objects), the one taken instead
of the default, the steps around it in the failing trace, and where the default
(FIFO) run went at the same point instead. When both runs recorded their
shared-object accesses (`accesses=True`), it also names the state that raced
(`explore/raced.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from simharness.errors import ConfigError
from simharness.explore.raced import RacedState, raced_lines, raced_states
from simharness.outcome import DecisionRecord, RunResult, TraceStep

#: How many steps of context to keep before and after each departure.
CONTEXT_STEPS = 3


@dataclass(frozen=True)
class StepView:
    """One step of a trace as people read it: who ran, from which await point, when."""

    index: int
    time: float
    actor: str
    kind: str
    label: str


@dataclass(frozen=True)
class Departure:
    """One decision where the failing schedule took something other than the default."""

    decision: int                      # 1-based decision index
    step: int                          # the step that ran right after the decision
    time: float                        # virtual seconds
    options: tuple[str, ...]           # "key: label" of every option offered, default first
    chosen: int                        # index taken (never 0 here)
    taken: str                         # options[chosen]
    default: str                       # options[0]: what native asyncio would have done
    before: tuple[StepView, ...]       # failing run: the steps just before the decision
    after: tuple[StepView, ...]        # failing run: the steps from the decision on
    fifo_options: tuple[str, ...] | None  # FIFO run's decision of the same index (None: it had none)
    fifo_after: tuple[StepView, ...]   # FIFO run: the steps from the same step index on
    # In faithful mode a decision only admits an event into the ready queue, so the
    # runs may part a few steps later: the first step (from this decision on) where
    # the failing run and the FIFO run ran something different, and what each ran.
    parted_at: int | None = None
    parted_failing: StepView | None = None
    parted_fifo: StepView | None = None

    @property
    def delayed(self) -> bool:
        """True when the taken option was "continue with the ready callbacks": the default event waited."""
        return self.taken.startswith("fifo:")


@dataclass(frozen=True)
class Explanation:
    """Why a run failed, as departures from the default order next to the FIFO run."""

    scenario: str
    variant: str
    failed: bool
    kind: str | None
    message: str | None
    decisions: int                     # decisions the failing run made
    departures: tuple[Departure, ...]
    first_difference: int | None       # first step index where the two traces differ
    fifo_failed: bool                  # the default order fails too: no departure is needed
    fifo_kind: str | None
    # The failure as durations on the stock runtime (`explore/timing.py`), when asked for:
    # "fails when 'profile fetch' #1 takes 60 ms, ..." or why no durations express it.
    stock_terms: str = ""
    #: The shared members that raced, most relevant first (`explore/raced.py`).
    raced: tuple[RacedState, ...] = ()
    #: The failing run recorded its accesses: an empty `raced` then means no Python object raced.
    accesses_recorded: bool = False

    @property
    def raced_lines(self) -> list[str]:
        """The raced state in words: one line per member, or why none is named."""
        return raced_lines(self.raced, recorded=self.accesses_recorded, failed=self.failed)

    @property
    def summary(self) -> str:
        """One sentence: how many departures, and whether FIFO passes."""
        count = len(self.departures)
        if not self.decisions:
            departed = "the run made no scheduling decision"
        elif count:
            departed = f"{count} of {self.decisions} decision(s) departed from the default order"
        else:
            departed = f"none of {self.decisions} decision(s) departed from the default order"
        fifo = (f"the default (FIFO) order fails too ({self.fifo_kind})" if self.fifo_failed
                else "the default (FIFO) order passes")
        return f"{departed}; {fifo}"


def _view(step: TraceStep) -> StepView:
    return StepView(index=step.index, time=step.time, actor=step.actor, kind=step.kind, label=step.label)


def _visible(trace: tuple[TraceStep, ...]) -> list[TraceStep]:
    # asyncio's own plumbing (a gather's done callback, run_until_complete's stop)
    # says nothing about the race; keep tasks and outside-world events.
    return [s for s in trace if s.kind != "callback"]


def _window_before(steps: list[TraceStep], index: int, size: int) -> tuple[StepView, ...]:
    earlier = [s for s in steps if s.index < index]
    return tuple(_view(s) for s in earlier[-size:])


def _window_after(steps: list[TraceStep], index: int, size: int) -> tuple[StepView, ...]:
    later = [s for s in steps if s.index >= index]
    return tuple(_view(s) for s in later[:size])


def _first_difference(failing: tuple[TraceStep, ...], fifo: tuple[TraceStep, ...]) -> int | None:
    return _parting(failing, fifo, 1)[0]


def _same(one: TraceStep, other: TraceStep) -> bool:
    return (one.actor, one.label, one.time) == (other.actor, other.label, other.time)


def _parting(failing: tuple[TraceStep, ...], fifo: tuple[TraceStep, ...],
             start: int) -> tuple[int | None, StepView | None, StepView | None]:
    """The first step index >= start where the two full traces ran different things."""
    for mine, theirs in zip(failing, fifo):
        if mine.index >= start and not _same(mine, theirs):
            return mine.index, _view(mine), _view(theirs)
    if len(failing) != len(fifo):
        index = min(len(failing), len(fifo))
        longer = failing if len(failing) > len(fifo) else fifo
        if index + 1 >= start:
            tail = _view(longer[index])
            return index + 1, (tail if longer is failing else None), (tail if longer is fifo else None)
    return None, None, None


def _departure(record: DecisionRecord, failing: list[TraceStep], fifo: list[TraceStep],
               fifo_decisions: dict[int, DecisionRecord], context: int,
               full: tuple[tuple[TraceStep, ...], tuple[TraceStep, ...]]) -> Departure:
    same = fifo_decisions.get(record.index)
    parted_at, parted_failing, parted_fifo = _parting(full[0], full[1], record.step)
    return Departure(
        decision=record.index, step=record.step, time=record.time, options=record.options,
        chosen=record.chosen, taken=record.options[record.chosen], default=record.options[0],
        before=_window_before(failing, record.step, context),
        after=_window_after(failing, record.step, context),
        fifo_options=same.options if same is not None else None,
        fifo_after=_window_after(fifo, record.step, context),
        parted_at=parted_at, parted_failing=parted_failing, parted_fifo=parted_fifo,
    )


def explain(failing: RunResult, fifo: RunResult, *, context: int = CONTEXT_STEPS) -> Explanation:
    """Explain `failing` against `fifo`, both detailed runs (`trace=True` / `detail=True`).

    Raises `ConfigError` when either run has no detailed trace: the explanation is
    built from recorded steps, never guessed.
    """
    if failing.steps and not failing.trace:
        raise ConfigError("explain needs the detailed trace of the failing run (replay with trace=True)")
    if fifo.steps and not fifo.trace:
        raise ConfigError("explain needs the detailed trace of the FIFO run (run it with detail=True)")
    mine, theirs = _visible(failing.trace), _visible(fifo.trace)
    fifo_decisions = {d.index: d for d in fifo.decision_log}
    full = (failing.trace, fifo.trace)
    departures = tuple(_departure(d, mine, theirs, fifo_decisions, context, full)
                       for d in failing.decision_log if d.chosen != 0)
    failure = failing.failure
    return Explanation(
        scenario=failing.scenario, variant=failing.variant, failed=failing.failed,
        kind=failure.kind if failure else None, message=failure.message if failure else None,
        decisions=len(failing.decision_log), departures=departures,
        first_difference=_first_difference(failing.trace, fifo.trace),
        fifo_failed=fifo.failed, fifo_kind=fifo.failure.kind if fifo.failure else None,
        raced=(raced_states(failing.accesses, fifo.accesses, fifo_fails=fifo.failed)
               if failing.accesses is not None else ()),
        accesses_recorded=failing.accesses is not None,
    )
