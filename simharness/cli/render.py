"""Text forms of results for people: scenario listings, findings, traces, explanations.

Only formatting lives here; every value comes from the core's dataclasses.
"""

from __future__ import annotations

from simharness.explore.explain import Departure, Explanation, StepView
from simharness.explore.shrink import ShrunkSchedule
from simharness.outcome import DecisionRecord, Exploration, RunResult, TraceStep
from simharness.scenario import Scenario
from simharness.cli.common import display_path, say

def one_line(text: str) -> str:
    """A field that must stay on its line: a newline in a message cannot forge a `replay:` line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


#: Departures shown after an explore failure before "... and N more".
SHORT_DEPARTURES = 5


def scenario_listing(scenario: Scenario) -> None:
    """Name, source file, first doc line, variants with their expectations."""
    say(f"{scenario.name}  {display_path(scenario.source_file)}:{scenario.source_line}", "bold")
    if scenario.doc:
        say(f"  {scenario.doc.splitlines()[0]}")
    variants = ", ".join(f"{v} (expect {scenario.expectation(v)})" for v in scenario.variant_names)
    say(f"  variants: {variants}")
    backends = scenario.options.get("backends")
    if backends:
        say(f"  backends: {', '.join(backends)}")


def exploration_outcome(exploration: Exploration, planned_runs: int, replay_line: str | None) -> None:
    """The result of exploring one variant: a pass line, or the finding with its replay line."""
    head = one_line(f"{exploration.scenario} [{exploration.variant}]")
    # Only seeded strategies depend on the seed; fifo and dfs would print a meaningless one.
    seeded = exploration.strategy in ("random", "pct", "portfolio")
    how = ", ".join([exploration.strategy] + ([f"seed {exploration.seed}"] if seeded else [])
                    + [f"{exploration.elapsed_s:.2f} s"])
    if exploration.stored_replays:
        how += f", {exploration.stored_replays} stored schedule(s) replayed first"
    failure = exploration.failure
    if failure is None:
        if exploration.exhausted:
            reduced = " (reduced)" if exploration.reduced else ""
            say(f"{head} passed: exhausted: all {exploration.runs} schedules{reduced} ({how})", "green")
        else:
            say(f"{head} passed all {exploration.runs} runs ({how})", "green")
        return
    if failure.run_index == 0:  # a remembered failure, replayed before exploring, still fails
        say(f"{head} FAILED replaying a stored failure before exploring ({how})", "bold red")
    else:
        say(f"{head} FAILED at run {failure.run_index} of {planned_runs} ({how})", "bold red")
    say(f"kind: {failure.kind}")
    say(f"message: {one_line(failure.message)}")
    say(f"run-index: {failure.run_index}")
    if failure.schedule != failure.original_schedule:
        say(f"schedule: {failure.schedule} (shrunk from {failure.original_schedule} "
            f"in {failure.shrink_replays} replays)")
    else:
        say(f"schedule: {failure.schedule}")
    if failure.preemptive:
        say("note: found in preemptive mode; it needs every await to be slow, which the real runtime may never do",
            "yellow")
    say(f"replay: {replay_line}")
    say(f"trace-hash: {failure.trace_hash}")


def run_outcome(result: RunResult) -> None:
    """The outcome of one replayed run."""
    head = one_line(f"{result.scenario} [{result.variant}]")
    if result.failure is None:
        say(f"{head} passed", "green")
        say("outcome: pass")
    else:
        say(f"{head} FAILED", "bold red")
        say("outcome: fail")
        say(f"kind: {result.failure.kind}")
        say(f"message: {one_line(result.failure.message)}")
    say(f"steps: {result.steps}")
    say(f"virtual-time: {result.virtual_time:.6f} s")
    say(f"trace-hash: {result.trace_hash}")


def _step_text(step: StepView | TraceStep) -> str:
    # Outside-world events are labelled by their key, which is also their actor.
    label = "" if step.label == step.actor else f" {step.label}"
    return f"#{step.index} {step.actor}{label}"


#: Widest the actor column gets; a longer actor name is printed whole, past the column.
ACTOR_COLUMN = 24


def trace_listing(trace: tuple[TraceStep, ...], decisions: tuple[DecisionRecord, ...]) -> None:
    """Every step: index, virtual time, actor, await point; each decision on the line of its step."""
    by_index = {d.index: d for d in decisions}
    say(f"trace ({len(trace)} steps, {len(decisions)} decisions):", "bold")
    width = min(ACTOR_COLUMN, max((len(s.actor) for s in trace), default=4))
    attached = {s.decision for s in trace if s.decision is not None}
    # Decisions that released nothing (the "fifo" option: hold the events back) have
    # no step of their own: they are annotated on the line of the step they came before.
    held: dict[int, list[DecisionRecord]] = {}
    for record in decisions:
        if record.index not in attached:
            held.setdefault(record.step, []).append(record)
    for step in trace:
        notes: list[str] = []
        departed = bool(step.deviation)
        for record in held.pop(step.index, ()):
            mark = "departed" if record.chosen else "default"
            notes.append(f"<- decision {record.index} ({mark}, taken before this step): "
                         f"{record.options[record.chosen]}")
            departed = departed or bool(record.chosen)
        record = by_index.get(step.decision) if step.decision is not None else None
        if record is not None:
            mark = "departed" if record.chosen else "default"
            notes.append(f"<- decision {record.index} ({mark}): {record.options[record.chosen]}")
        line = f"  {step.index:>5}  t={step.time:.6f}  {step.actor:<{width}}  {step.label}"
        if notes:
            line += "   " + "; ".join(notes)
        say(line, "yellow" if departed else None)
    for records in held.values():  # taken after the last step: still shown
        for record in records:
            mark = "departed" if record.chosen else "default"
            say(f"  {'':>5}  t={record.time:.6f}  {'':<{width}}  <- decision {record.index} ({mark}, "
                f"after the last step): {record.options[record.chosen]}", "yellow" if record.chosen else None)


def _choice_text(departure: Departure) -> str:
    if departure.delayed:
        return f"held back \"{departure.default}\" (took \"{departure.taken}\")"
    return f"took \"{departure.taken}\" instead of the default \"{departure.default}\""


def _parting_text(departure: Departure) -> str:
    if departure.parted_at is None:
        return "; the FIFO run ran the same steps from here"
    mine = _step_text(departure.parted_failing) if departure.parted_failing else "(run ended)"
    fifo = _step_text(departure.parted_fifo) if departure.parted_fifo else "(run ended)"
    return f"; the runs part at step {departure.parted_at}: this run {mine}, FIFO run {fifo}"


def _departure_long(departure: Departure) -> None:
    say(f"  decision {departure.decision} before step {departure.step} (t={departure.time:.6f} s), "
        f"{len(departure.options)} options:")
    for number, option in enumerate(departure.options):
        tag = " (default)" if number == 0 else ""
        tag += " (taken)" if number == departure.chosen else ""
        say(f"    {'>' if number == departure.chosen else ' '} [{number}] {option}{tag}",
            "yellow" if number == departure.chosen else None)
    if departure.before:
        say(f"    before:   {'; '.join(_step_text(s) for s in departure.before)}")
    say(f"    then:     {'; '.join(_step_text(s) for s in departure.after) or '(run ended)'}")
    if departure.fifo_options is not None and departure.fifo_options != departure.options:
        say(f"    FIFO run offered at decision {departure.decision}: {' | '.join(departure.fifo_options)}")
    say(f"    FIFO run: {'; '.join(_step_text(s) for s in departure.fifo_after) or '(run ended)'}")
    say(f"    so: {_choice_text(departure)}{_parting_text(departure)}")


def explanation_long(explanation: Explanation) -> None:
    """Every departure with its options, the steps around it and the FIFO run's steps."""
    say(f"why: {explanation.summary}", "bold")
    if explanation.stock_terms:
        say(f"  in stock terms: {explanation.stock_terms}")
    if explanation.first_difference is not None:
        say(f"  the failing run and the FIFO run first differ at step {explanation.first_difference}")
    for departure in explanation.departures:
        _departure_long(departure)
    for line in explanation.raced_lines:
        say(f"  {line}")


def explanation_short(explanation: Explanation) -> None:
    """One line per departure (the first few), for the end of an explore finding."""
    say(f"why: {explanation.summary}")
    if explanation.stock_terms:
        say(f"in stock terms: {explanation.stock_terms}")
    for departure in explanation.departures[:SHORT_DEPARTURES]:
        say(f"  decision {departure.decision} (before step {departure.step}, t={departure.time:g} s): "
            f"{_choice_text(departure)}{_parting_text(departure)}")
    hidden = len(explanation.departures) - SHORT_DEPARTURES
    if hidden > 0:
        say(f"  ... and {hidden} more (see replay --trace)")
    for line in explanation.raced_lines:
        say(f"  {line}")


def shrink_outcome(shrunk: ShrunkSchedule, replay_line: str) -> None:
    """A shrunk schedule: how much smaller, how it fails, and how to replay it."""
    failure = shrunk.result.failure
    assert failure is not None
    after = shrunk.result.schedule
    say(f"{shrunk.scenario} [{shrunk.variant}] shrunk from {shrunk.original_decisions} decisions "
        f"({shrunk.original_departures} departing) to {after.length} ({after.deviations} departing) "
        f"in {shrunk.replays} replays", "bold red")
    say(f"kind: {failure.kind}")
    say(f"message: {one_line(failure.message)}")
    say(f"schedule: {shrunk.schedule} (shrunk from {shrunk.original})")
    say(f"replay: {replay_line}")
    say(f"trace-hash: {shrunk.result.trace_hash}")
