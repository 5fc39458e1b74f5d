"""The report of one detailed run (a replay document): what failed, why, and the picture.

Sections: the outcome with the schedule and replay command to copy; the swimlanes of
this run beside the FIFO run; the decisions that departed from the default order;
the raced operations with their source lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simharness.explore.serialize import replay_command
from simharness.report.markup import copyable, esc, tag
from simharness.report.model import Departure, Step, departures_of, steps_of
from simharness.report.races import last_task_steps, raced_steps
from simharness.report.sources import Excerpt, excerpt
from simharness.report.timeline import Marks, Panel, format_time, timeline_svg


def _outcome(document: dict[str, Any]) -> str:
    if document.get("failed"):
        return tag("span", esc(f"FAILED: {document.get('kind')}"), cls="verdict bad")
    return tag("span", "passed", cls="verdict good")


def _facts(pairs: Sequence[tuple[str, object]]) -> str:
    return tag("dl", "".join(tag("dt", esc(k)) + tag("dd", esc(v)) for k, v in pairs if v not in (None, "")),
               cls="facts")


def _why(document: dict[str, Any], departures: Sequence[Departure]) -> str:
    explanation = document.get("explanation") if isinstance(document.get("explanation"), dict) else {}
    decisions = explanation.get("decisions", len(document.get("decisions") or []))
    fifo = (f"the default (FIFO) order fails too ({document.get('fifo_kind')})" if document.get("fifo_failed")
            else "the default (FIFO) order passes")
    if not decisions:
        return f"The run made no scheduling decision; {fifo}."
    return f"{len(departures)} of {decisions} decision(s) departed from the default order; {fifo}."


def _departure_item(departure: Departure) -> str:
    options = "".join(
        tag("li", esc(option) + (tag("span", " (taken)", cls="taken") if n == departure.chosen else "")
            + (tag("span", " (default)", cls="muted") if n == 0 else ""), cls="opt")
        for n, option in enumerate(departure.options))
    if departure.taken.startswith("fifo:"):
        what = f"held back “{departure.default}” and let the ready callbacks run first"
    else:
        what = f"took “{departure.taken}” instead of the default “{departure.default}”"
    parted = ""
    if departure.parted_at is not None:
        parted = (f" The runs part at step {departure.parted_at}: this run {departure.parted_failing or '(ended)'}; "
                  f"FIFO run {departure.parted_fifo or '(ended)'}.")
    head = f"Decision {departure.decision}, before step {departure.step} (t={format_time(departure.time)} s): "
    return tag("li", esc(head + what + "." + parted) + tag("ul", options), data_decision=departure.decision)


def _excerpt_html(found: Excerpt, steps: Sequence[Step], anchor: str) -> str:
    who = ", ".join(f"step {s.index} ({s.actor})" for s in steps)
    lines = "".join(tag("span", tag("em", str(n)) + esc(text), cls="hit" if n == found.line else None)
                    for n, text in found.lines)
    uri = Path(found.path).as_uri()
    where = (tag("a", esc(f"{found.file}:{found.line}"), href=uri) + esc(f" — {who}"))
    return tag("div", tag("div", where, cls="where") + tag("pre", lines), cls="source", id=anchor)


def _raced_section(steps: Sequence[Step], raced: frozenset[int], dirs: Sequence[Path], ident: str,
                   inherent: bool) -> tuple[str, dict[int, str]]:
    """The raced-operations list with source excerpts, and step -> excerpt anchor."""
    chosen = [s for s in steps if s.index in raced]
    if not chosen:
        return "", {}
    points: dict[tuple[str, int], list[Step]] = {}
    for step in chosen:
        if step.where is not None:
            points.setdefault(step.where, []).append(step)
    links: dict[int, str] = {}
    excerpts: list[str] = []
    missing: list[str] = []
    for (file, line), at in points.items():
        found = excerpt(file, line, dirs)
        if found is None:
            missing.append(f"{file}:{line}")
            continue
        anchor = f"{ident}-{found.anchor}"  # unique when a page holds several runs
        excerpts.append(_excerpt_html(found, at, anchor))
        links.update((s.index, anchor) for s in at)
    rows = "".join(tag("li", esc(f"step {s.index} · {s.actor} ({s.kind}) · {s.label}")
                       + (" " + tag("a", "source", href=f"#{links[s.index]}") if s.index in links else ""),
                       data_raced_step=s.index) for s in chosen)
    note = (tag("p", esc("Source not found here for: " + ", ".join(missing)
                                     + " (simharness report --source-dir DIR names its folder)"), cls="muted") if missing else "")
    body = (tag("h2", "Operations that raced")
            + tag("p", ("No decision departed: the default order fails by itself. In red, the last step of "
                        "each task before the oracle fired. " if inherent else
                        "The steps of different tasks and outside actors around each departed decision, the "
                        "steps that ran in the opposite order in the FIFO run, and where the two runs part "
                        "(red in the timeline). ") + "Their await points in the source:", cls="muted")
            + tag("ul", rows) + note + "".join(excerpts))
    return tag("section", body, cls="card", id=f"{ident}-raced"), links


def _listed(value: Any) -> list[Any]:
    """A document's list, or nothing when a hand-made document puts something else there."""
    return value if isinstance(value, list) else []


def replay_sections(document: dict[str, Any], dirs: Sequence[Path], *, replay_line: str | None = None,
                    ident: str = "run") -> str:
    """Every section of one detailed run."""
    trace, fifo = steps_of(document.get("trace")), steps_of(document.get("fifo_trace"))
    departures = departures_of(document.get("explanation"), document.get("decisions"))
    raced: frozenset[int] = frozenset()
    inherent = bool(document.get("failed")) and not departures
    if document.get("failed"):
        raced = last_task_steps(trace) if inherent else raced_steps(trace, departures, fifo)
    schedule = str(document.get("schedule") or "")
    line = replay_line or replay_command(str(document.get("target") or document.get("scenario")),
                                         str(document.get("variant")), schedule)
    explanation = document.get("explanation") if isinstance(document.get("explanation"), dict) else {}
    parted = explanation.get("first_difference")
    summary = (tag("h2", esc(f"{document.get('scenario')} [{document.get('variant')}] ") + _outcome(document))
               + (tag("div", esc(document.get("message")), cls="message") if document.get("message") else "")
               + tag("p", esc(_why(document, departures)))
               + "".join(tag("p", esc(str(line)), cls="raced-state") for line in _listed(document.get("raced_state")))
               + copyable("schedule", schedule, f"{ident}-schedule") + copyable("replay", line, f"{ident}-replay")
               + _facts([("steps", document.get("steps")),
                         ("virtual time", f"{format_time(float(document.get('virtual_time') or 0))} s"),
                         ("trace-hash", document.get("trace_hash")),
                         ("mode", "preemptive (any ready callback may run next)" if document.get("preemptive")
                          else "faithful (orders the real runtime can produce)")]))
    sections = [tag("section", summary, cls="card", id=f"{ident}-summary")]
    raced_html, links = _raced_section(trace, raced, dirs, ident, inherent)
    if trace:
        fifo_title = "Default (FIFO) order: " + (f"fails ({document.get('fifo_kind')})" if document.get("fifo_failed")
                                                 else "passes")
        panels = [Panel("failing", f"This schedule: {'fails' if document.get('failed') else 'passes'}", trace,
                        f"✗ {document.get('kind')}" if document.get("failed") else "✓ passes",
                        bool(document.get("failed")))]
        if fifo:
            panels.append(Panel("fifo", fifo_title, fifo,
                                f"✗ {document.get('fifo_kind')}" if document.get("fifo_failed") else "✓ passes",
                                bool(document.get("fifo_failed"))))
        marks = Marks(departures, raced, parted if isinstance(parted, int) else None, links)
        legend = tag("div", "".join(tag("span", esc(text), style=f"--c:{colour}") for text, colour in (
            ("task step", "#2563eb"), ("outside event (connection, thread, process, timer, checkpoint)", "#0891b2"),
            ("asyncio callback", "#a3aab8"), ("after a departed decision", "#f59e0b"),
            ("raced operation (click the label for its source)", "#d1263b"),
            ("differs from the other run", "#c4b5fd"), ("dashed line: where the two orders part", "#7c3aed"))),
            cls="legend")
        sections.append(tag("section", tag("h2", "Timeline: this run beside the default order") + legend
                            + tag("div", timeline_svg(panels, marks), cls="scroll"), cls="card", id=f"{ident}-timeline"))
    if departures:
        sections.append(tag("section", tag("h2", "Decisions that departed from the default order")
                            + tag("ol", "".join(_departure_item(d) for d in departures), cls="departures"),
                            cls="card", id=f"{ident}-departures"))
    if raced_html:
        sections.append(raced_html)
    return "".join(sections)
