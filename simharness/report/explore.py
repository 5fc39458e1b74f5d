"""The report of an explore document: every variant explored, and each failure found.

An `explore --json` document holds no trace, so a failure shows its schedule and
replay command; `explore --html` adds each failure's detailed replay under
`"detail"` (a replay document), and then the full timeline is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simharness.report.failure import replay_sections
from simharness.report.markup import copyable, esc, table, tag


def _summary(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for result in results:
        failure = result.get("failure") or {}
        verdict = (tag("span", esc(f"failed: {failure.get('kind')}"), cls="verdict bad") if result.get("failed")
                   else tag("span", "no failure", cls="verdict good"))
        if not failure:
            where = f"{result.get('runs')} runs"
        elif failure.get("run_index") == 0:  # remembered in the failure store, failed again on replay
            where = "stored failure, replayed before exploring"
        else:
            where = f"run {failure.get('run_index')} of {result.get('runs')}"
        rows.append([esc(result.get("scenario")), esc(result.get("variant")), esc(result.get("strategy")),
                     esc(where), verdict, esc(failure.get("message", ""))])
    return table(("scenario", "variant", "strategy", "schedules", "outcome", "message"), rows)


def explore_sections(document: dict[str, Any], dirs: Sequence[Path]) -> str:
    """Summary table, then one block per failure (with its timeline when the detail is there)."""
    results = [r for r in document.get("results") or () if isinstance(r, dict)]
    sections = [tag("section", tag("h2", "Exploration") + _summary(results), cls="card", id="explore-summary")]
    for n, result in enumerate(results, 1):
        failure = result.get("failure")
        if not isinstance(failure, dict):
            continue
        detail = result.get("detail")
        replay = str(failure.get("replay") or "")
        if isinstance(detail, dict):
            sections.append(replay_sections(detail, dirs, replay_line=replay, ident=f"r{n}"))
            continue
        body = (tag("h2", esc(f"{result.get('scenario')} [{result.get('variant')}] ")
                    + tag("span", esc(f"FAILED: {failure.get('kind')}"), cls="verdict bad"))
                + tag("div", esc(failure.get("message")), cls="message")
                + copyable("schedule", str(failure.get("schedule") or ""), f"r{n}-schedule")
                + copyable("replay", replay, f"r{n}-replay")
                + tag("p", esc("This document has no trace. For the timeline, run "
                               "`simharness explore ... --html`, or replay with --json and run "
                               "`simharness report` on that document."), cls="muted"))
        sections.append(tag("section", body, cls="card", id=f"r{n}-summary"))
    return "".join(sections)
