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


def _outcome_table(result: dict[str, Any], ident: str) -> str:
    """`explore --count-outcomes`: each distinct outcome with its count, share and first run."""
    rows = [r for r in result.get("outcomes") or () if isinstance(r, dict)]
    total = sum(int(r.get("count") or 0) for r in rows) or 1
    cells = []
    for row in rows:
        count = int(row.get("count") or 0)
        outcome = str(row.get("outcome"))
        label = "pass" if outcome == "pass" else f"{row.get('kind')}"
        verdict = tag("span", esc(label), cls="verdict good" if outcome == "pass" else "verdict bad")
        cells.append([esc(count), esc(f"{100.0 * count / total:.2f} %"), esc(row.get("first_run")), verdict,
                      esc(row.get("first_message") or ""),
                      tag("code", esc(row.get("first_schedule") or "")) if outcome != "pass" else ""])
    head = tag("h2", esc(f"Outcomes of {result.get('scenario')} [{result.get('variant')}]: {total} runs"))
    return tag("section", head + table(("count", "share", "first run", "outcome", "message", "first schedule"),
                                       cells), cls="card", id=ident)


def explore_sections(document: dict[str, Any], dirs: Sequence[Path]) -> str:
    """Summary table, outcome tables of counted explorations, then one block per failure."""
    results = [r for r in document.get("results") or () if isinstance(r, dict)]
    sections = [tag("section", tag("h2", "Exploration") + _summary(results), cls="card", id="explore-summary")]
    for n, result in enumerate(results, 1):
        campaign = result.get("campaign")
        if isinstance(campaign, dict) and campaign.get("count_all"):
            sections.append(_outcome_table(result, f"r{n}-outcomes"))
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
