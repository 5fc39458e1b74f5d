"""A found failure as durations on the stock runtime: which checkpoints take how long.

A failing schedule of the default (faithful) mode departs from the stock order at a
few decisions. Where a departure holds back an `sh.checkpoint()` (an await whose
duration the test does not control), the stock runtime takes the same path when that
checkpoint really takes longer. `stock_timing` turns a schedule into such durations:

1. replay it, naming every checkpoint `site#n` (its label, or `file.py:LINE`; the n-th
   one posted there), and collect the checkpoints its decisions held back, in the order
   they finished; departures that held back anything else (a simulated delivery, a
   thread's result, the loop's own ready callbacks) have no stock equivalent here;
2. run the *plan* in simulation (`timing_plan.PlannedDelays`): only those checkpoints
   slow, everything else in the stock order. If it fails with the same bug, the
   failure needs nothing but the durations;
3. give each planned checkpoint a real duration: the virtual time it stayed pending
   (timers it outlasted) plus one `step_s` for every planned checkpoint that finished
   between its posting and its end, inclusive, so they finish in the same order with a
   margin of `step_s` that holds on a loaded machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simharness.api import checkpoint_posted
from simharness.engine.execution import RunSettings
from simharness.engine.schedule import Schedule
from simharness.errors import SimharnessError
from simharness.explore.runner import replay, run_strategy
from simharness.explore.timing_plan import CHECKPOINT_KEY, PlannedCheckpoint, PlannedDelays, Posting, PostingLog
from simharness.outcome import RunResult
from simharness.scenario import Scenario

#: The default spacing of planned checkpoints on the real clock.
DEFAULT_STEP_S = 0.03


@dataclass(frozen=True)
class Delay:
    """One checkpoint that takes long on the stock runtime."""

    name: str          # "site#n"
    task: str          # the task that awaited it (in simulation)
    seconds: float

    @property
    def label(self) -> str:
        site, _, number = self.name.rpartition("#")
        return f"'{site}' #{number}"


@dataclass(frozen=True)
class StockTiming:
    """A simulated failure restated as checkpoint durations (see the module docstring)."""

    scenario: str
    variant: str
    kind: str
    message: str
    delays: tuple[Delay, ...]          # in the order they finish; empty: the stock order fails
    no_stock_equivalent: tuple[str, ...]  # departures the durations cannot express
    expressible: bool                  # the checkpoint-only plan fails the same way in simulation
    plan_schedule: str                 # that plan's schedule (replayable)
    step_s: float

    def as_mapping(self) -> dict[str, float]:
        return {d.name: d.seconds for d in self.delays}

    def statement(self) -> str:
        """The failure in terms of durations, one sentence."""
        if not self.expressible:
            return ("no stock timing: the failure needs " + "; ".join(self.no_stock_equivalent[:3])
                    if self.no_stock_equivalent else "no stock timing: the checkpoint durations alone "
                    "do not reproduce the failure")
        if not self.delays:
            return "the stock order fails: no operation needs to be slow"
        slow = ", ".join(f"{d.label} (in {d.task}) takes {d.seconds * 1000:.0f} ms" for d in self.delays)
        return f"fails when {slow}, every other outside operation being prompt"


def _masked(message: str) -> str:
    return re.sub(r"\d+", "N", message.split("\n", 1)[0])


def same_failure(scenario: Scenario, variant: str, kind: str, message: str,
                 other_kind: str | None, other_message: str) -> bool:
    """Whether a failure is the recorded one: the declared bug, else same kind and exception."""
    if other_kind is None:
        return False
    signature = scenario.bug_signature(variant)
    if signature is not None and signature.matches(kind, message):
        return signature.matches(other_kind, other_message)
    return other_kind == kind and _masked(other_message).split(":", 1)[0] == _masked(message).split(":", 1)[0]


def _traced(scenario: Scenario, variant: str, run: object, settings: RunSettings | None) -> tuple[RunResult, PostingLog]:
    """Run (replay or plan), naming checkpoints as the real backend counts them."""
    log = PostingLog()
    token = checkpoint_posted.set(log)
    try:
        if isinstance(run, str):
            result = replay(scenario, variant, run, settings, trace=True)
        else:
            result = run_strategy(scenario, variant, run(log), settings, detail=True)  # type: ignore[operator]
    finally:
        checkpoint_posted.reset(token)
    return result, log


def _after_last(result: RunResult) -> tuple[int, float]:
    """(step, time) just after a run's last step: when a checkpoint still pending at its end ends."""
    return (result.trace[-1].index + 1, result.trace[-1].time) if result.trace else (1, 0.0)


def _resumed(result: RunResult, posting: Posting) -> tuple[int, float] | None:
    """(step, virtual time) at which a posted checkpoint's task resumed."""
    for step in result.trace:
        if step.index > posting.step and step.actor == posting.task:
            return step.index, step.time
    return None


def _no_equivalent(key: str, label: str) -> str:
    """Why holding back this outside event has no stock equivalent, in a user's words."""
    if key == "fifo":
        return "an outside event delivered before the loop's own ready callbacks"
    if key.startswith("conn-"):
        return (f"the simulated network delivery order ('{label}' held back: real loopback "
                "delivers at once, so no duration produces it)")
    if key.startswith("proc-"):
        return f"a child process's output or exit held back ('{label}': its timing is the child's own)"
    return f"a thread's result held back ('{label}': thread durations are not set by confirm)"


def _held_back(result: RunResult, log: PostingLog) -> tuple[list[tuple[int, Posting]], list[str]]:
    """Checkpoints the schedule's decisions held back (with their end step), and other departures."""
    # A checkpoint still pending when the run failed ends after its last step.
    spans = [(p, _resumed(result, p) or _after_last(result)) for p in log.postings]
    held: dict[str, tuple[int, Posting]] = {}
    other: list[str] = []
    for decision in result.decision_log:
        for skipped in decision.options[:decision.chosen]:
            key, _, label = skipped.partition(": ")
            if not key.startswith(CHECKPOINT_KEY):
                other.append(f"{_no_equivalent(key, label)} (decision {decision.index})")
                continue
            task = key[len(CHECKPOINT_KEY):]
            for posting, end in spans:
                if posting.task == task and posting.step < decision.step and end and end[0] >= decision.step:
                    held[posting.name] = (end[0], posting)
    # A checkpoint pending while a slow one finished, and finishing in a later select,
    # outlasted it: it is slow too (a stock sleep(0) would have finished first). One
    # released by the same select right after it finished with it (both timers expired).
    select_of = {step.index: result.decision_log[step.decision - 1].step
                 for step in result.trace if step.decision is not None}
    grown = True
    while grown:
        # Posted before a slow one's continuation ran (an over-approximation where both were
        # released by one select: slowing this one too keeps the order robust).
        finished = [step for step, _ in held.values()]
        slower = {posting.name: (end[0], posting) for posting, end in spans
                  if posting.name not in held
                  and any(posting.step < f < end[0] and select_of.get(f) != select_of.get(end[0], -1)
                          for f in finished)}
        held.update(slower)
        grown = bool(slower)
    return sorted(held.values(), key=lambda item: item[0]), other


def _durations(result: RunResult, log: PostingLog, planned: set[str], step_s: float) -> tuple[Delay, ...]:
    last = _after_last(result)  # a planned checkpoint still pending when the run failed
    ends = [(*(_resumed(result, posting) or last), posting) for posting in log.postings if posting.name in planned]
    ends.sort(key=lambda item: item[0])
    finished = [step for step, _, _ in ends]
    delays = []
    for step, time, posting in ends:
        passed = sum(1 for other in finished if posting.step < other <= step)
        delays.append(Delay(posting.name, posting.task, round(time - posting.time + step_s * passed, 6)))
    return tuple(delays)


def stock_timing(scenario: Scenario, variant: str, schedule: str, settings: RunSettings | None = None,
                 *, step_s: float = DEFAULT_STEP_S) -> StockTiming:
    """Restate the failing `schedule` of `variant` as checkpoint durations (see the module docstring).

    Raises what `replay` raises for a schedule of another scenario or a broken one, and
    `ValueError` when the schedule does not fail.
    """
    original, log = _traced(scenario, variant, schedule, settings)
    if original.failure is None:
        raise ValueError("the schedule passes: there is no failure to restate")
    kind, message = original.failure.kind, original.failure.message
    held, other = _held_back(original, log)
    plan = {posting.name: PlannedCheckpoint(posting.name, order, round(end_time - posting.time, 9))
            for order, (end_time, posting) in enumerate(
                ((_resumed(original, p) or _after_last(original))[1], p) for _, p in held)}
    if not original.schedule.deviations:  # the stock order fails: the plan is the replay itself
        planned, plan_log = original, log
    else:
        planned, plan_log = _traced(scenario, variant, lambda log: PlannedDelays(plan, log), settings)
    failure = planned.failure
    expressible = failure is not None and same_failure(scenario, variant, kind, message, failure.kind, failure.message)
    delays = _durations(planned, plan_log, set(plan), step_s) if expressible else ()
    return StockTiming(scenario=scenario.name, variant=variant, kind=kind, message=message, delays=delays,
                       no_stock_equivalent=tuple(other), expressible=expressible,
                       plan_schedule=planned.schedule.encode(), step_s=step_s)


def stock_terms(scenario: Scenario, variant: str, schedule: str, settings: RunSettings | None = None) -> str:
    """`stock_timing(...).statement()` for an explanation, or "" when it cannot be worked out.

    A blocked loop is left out: every replay of it waits `blocked_loop_s` of real time
    (and a synchronous wait is no matter of timing).
    """
    try:
        if Schedule.decode(schedule).preemptive:  # every await slow at once: no duration says that
            return ""
        timing = stock_timing(scenario, variant, schedule, settings)
    except (SimharnessError, ValueError):
        return ""
    return "" if timing.kind == "blocked-loop" else timing.statement()
