"""The report of a stress summary: verdicts, outcome tables per variant, and the charts.

Outcome tables follow JCStress: one row per distinct outcome, how often it happened
at each concurrency level, and whether the variant's `expect` allows it. The charts
plot the real backend by concurrency level: failure rate, speedup and efficiency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simharness.report.charts import Series, colour, line_chart
from simharness.report.markup import copyable, esc, table, tag


def _pct(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def _name(result: dict[str, Any]) -> str:
    return f"{result.get('scenario')}[{result.get('variant')}]"


def _cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    if result.get("backend") == "sim":
        found = result.get("found")
        if isinstance(found, dict):
            return f"{found.get('kind')} @ schedule {found.get('run_index')}/{result.get('runs')}"
        return "error" if result.get("error") else f"no failure in {result.get('runs')}"
    rate = float(result.get("failure_rate") or 0)
    return f"{result.get('failures')}/{result.get('runs')} ({_pct(rate)})"


def _verdicts(document: dict[str, Any], results: Sequence[dict[str, Any]]) -> str:
    by_key = {(r.get("scenario"), r.get("variant"), r.get("backend")): r for r in results}
    rows = []
    for verdict in document.get("verdicts") or ():
        key = (verdict.get("scenario"), verdict.get("variant"))
        state = "good" if verdict.get("ok") else ("neutral" if verdict.get("verdict") == "skipped" else "bad")
        rows.append([esc(verdict.get("scenario")), esc(verdict.get("variant")), esc(verdict.get("expect")),
                     esc(_cell(by_key.get((*key, "sim")))), esc(_cell(by_key.get((*key, "real")))),
                     esc(_cell(by_key.get((*key, "timed")))),
                     tag("span", esc(verdict.get("verdict")), cls=f"verdict {state}"), esc(verdict.get("reason"))])
    return table(("scenario", "variant", "expect", "sim", "real failures", "under the found timing", "verdict",
                  "reason"), rows, data_table="verdicts")


def _outcomes(result: dict[str, Any]) -> str:
    levels = [lv for lv in result.get("levels") or () if isinstance(lv, dict)]
    headers = ["outcome", "grade"] + [f"x{lv.get('concurrency')}" for lv in levels] + ["total", "freq", "message"]
    rows = []
    for row in result.get("outcomes") or ():
        per_level = []
        for lv in levels:
            match = [o for o in lv.get("outcomes") or () if (o.get("outcome"), o.get("message")) ==
                     (row.get("outcome"), row.get("message"))]
            per_level.append(esc(match[0].get("count") if match else 0))
        grade = str(row.get("grade"))
        look = {"expected": "good", "unexpected": "bad"}.get(grade, "neutral")
        rows.append([esc(row.get("outcome")), tag("span", esc(grade), cls=f"verdict {look}"), *per_level, esc(row.get("count")),
                     esc(_pct(float(row.get("frequency") or 0))), esc(row.get("message"))])
    title = f"{_name(result)} on {result.get('backend')}: {result.get('runs')} " + (
        "schedules" if result.get("backend") == "sim" else "runs")
    body = tag("h3", esc(title)) + table(headers, rows, data_table="outcomes", data_variant=_name(result))
    if result.get("note"):
        body += tag("p", esc(result.get("note")), cls="muted")
    return body


def _charts(reals: Sequence[dict[str, Any]]) -> str:
    levels = sorted({int(lv["concurrency"]) for r in reals for lv in r.get("levels") or ()
                     if isinstance(lv.get("concurrency"), int)})
    if not levels:
        return tag("p", "No real-backend runs: nothing to chart.", cls="muted")

    def values(result: dict[str, Any], key: str) -> tuple[float | None, ...]:
        by_level = {lv.get("concurrency"): lv for lv in result.get("levels") or ()}
        out: list[float | None] = []
        for level in levels:
            value = by_level.get(level, {}).get(key)
            out.append(float(value) if isinstance(value, (int, float)) else None)
        return tuple(out)

    labels = [f"x{level}" for level in levels]
    rate = [Series(_name(r), values(r, "failure_rate"), colour(n)) for n, r in enumerate(reals)]
    ideal = Series("ideal (linear)", tuple(level / levels[0] for level in levels), "#94a3b8", dashed=True)
    speed = [ideal] + [Series(_name(r), values(r, "speedup"), colour(n)) for n, r in enumerate(reals)]
    efficiency = [Series("ideal", tuple(1.0 for _ in levels), "#94a3b8", dashed=True)] + [
        Series(_name(r), values(r, "efficiency"), colour(n)) for n, r in enumerate(reals)]
    x_title = "copies of the scenario at once (concurrency level)"
    return tag("div", line_chart("Failure rate by concurrency level", "failure-rate", labels, rate, _pct,
                                 y_max=max(0.1, min(1.0, max([v or 0 for s in rate for v in s.values] + [0]) * 1.2)),
                                 x_title=x_title)
               + line_chart("Speedup by concurrency level", "speedup", labels, speed, lambda v: f"{v:.1f}x",
                            x_title=x_title)
               + line_chart("Efficiency by concurrency level", "efficiency", labels, efficiency, _pct,
                            x_title=x_title), cls="charts")


def stress_sections(document: dict[str, Any]) -> str:
    """Every section of a stress report."""
    results = [r for r in document.get("results") or () if isinstance(r, dict)]
    reals = [r for r in results if r.get("backend") == "real"]
    ok = bool(document.get("ok"))
    state = ("interrupted: partial results" if document.get("interrupted")
             else ("every expectation held" if ok else "some expectations did not hold"))
    held = sum(1 for v in document.get("verdicts") or () if v.get("ok"))
    head = (tag("h2", "Verdicts " + tag("span", esc(state), cls=f"verdict {'good' if ok else 'bad'}"))
            + tag("p", esc(f"{held}/{len(document.get('verdicts') or [])} expectations held in "
                           f"{float(document.get('elapsed_s') or 0):.1f} s."), cls="muted")
            + _verdicts(document, results))
    errors = document.get("errors") or []
    if errors:
        head += tag("ul", "".join(tag("li", esc(e)) for e in errors), cls="message")
    sections = [tag("section", head, cls="card", id="verdicts")]
    found = []
    for n, result in enumerate(results):
        finding = result.get("found")
        if isinstance(finding, dict):
            found.append(tag("h3", esc(f"{_name(result)}: {finding.get('kind')}"))
                         + tag("div", esc(finding.get("message")), cls="message")
                         + copyable("schedule", str(finding.get("schedule") or ""), f"s{n}-schedule")
                         + copyable("replay", str(finding.get("replay") or ""), f"s{n}-replay"))
    if found:
        sections.append(tag("section", tag("h2", "Failures found in simulation (replay them exactly)")
                            + "".join(found), cls="card", id="findings"))
    sections.append(tag("section", tag("h2", "Real backend by concurrency level") + _charts(reals),
                        cls="card", id="charts"))
    sections.append(tag("section", tag("h2", "Outcomes per variant")
                        + "".join(_outcomes(r) for r in results), cls="card", id="outcomes"))
    options = document.get("options") or {}
    sections.append(tag("section", tag("h2", "Options") + table(
        ("option", "value"), [[esc(k), esc(v)] for k, v in options.items()]), cls="card", id="options"))
    return "".join(sections)
