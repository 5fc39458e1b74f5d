"""The swimlane picture: the failing run and the FIFO run side by side, as inline SVG.

Time runs downward. Each lane (a task, or an outside actor: connection, thread work,
subprocess, timer, checkpoint) is a column; each step is one mark in its lane, on
its own row, so steps at the same virtual time are spread by step index and a gap
opens where virtual time moves on. The step's await point is written at the end of
the row. Rows of the two runs share their step index, so where the orders part is a
line across both panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from simharness.report.markup import attr, esc
from simharness.report.model import Departure, Step
from simharness.report.races import PLUMBING

ROW_H, TIME_GAP, HEADER_H, TITLE_H = 18, 9, 126, 22
IDX_W, TIME_W, LABEL_W, PANEL_GAP = 32, 58, 246, 22
CHAR_W = 6.6  # 11px monospace
#: Longest trace drawn in full; longer ones keep the rows around what matters.
MAX_ROWS, KEEP_AROUND = 400, 20
KIND_COLOURS = {"task": "#2563eb", "checkpoint": "#0d9488", "io": "#0891b2", "thread": "#9333ea",
                "process": "#a16207", "timer": "#65a30d", "callback": "#a3aab8"}


@dataclass(frozen=True)
class Panel:
    """One run to draw: its steps, title, and how it ended."""

    run: str              # "failing" or "fifo": data-run of its marks
    title: str
    steps: tuple[Step, ...]
    outcome: str          # last row: "✗ assertion" / "✓ passes"
    failed: bool


@dataclass(frozen=True)
class Marks:
    """What to highlight: departed decisions by step, raced steps, the parting step, source links."""

    departures: tuple[Departure, ...]
    raced: frozenset[int]
    parted_at: int | None
    links: Mapping[int, str]      # step index -> element id of its source excerpt


def _lanes(panels: Sequence[Panel]) -> list[str]:
    lanes: list[str] = []
    for panel in panels:
        for step in panel.steps:
            if step.lane not in lanes:
                lanes.append(step.lane)
    # asyncio's plumbing goes last: it is context, not one of the actors.
    return [lane for lane in lanes if lane not in PLUMBING] + [lane for lane in lanes if lane in PLUMBING]


def _rows(indices: list[int], marks: Marks) -> list[int | None]:
    """Step indices to draw in order; None marks elided steps (only for long traces)."""
    if len(indices) <= MAX_ROWS:
        return list(indices)
    focus = set(marks.raced) | {d.step for d in marks.departures}
    if marks.parted_at is not None:
        focus.add(marks.parted_at)
    focus.update(indices[:KEEP_AROUND] + indices[-3 * KEEP_AROUND:])
    keep = {i for f in focus for i in range(f - KEEP_AROUND, f + KEEP_AROUND + 1)}
    rows: list[int | None] = []
    for index in indices:
        if index in keep:
            rows.append(index)
        elif not rows or rows[-1] is not None:
            rows.append(None)
    return rows


def _clip(text: str, width: float) -> str:
    limit = max(4, int(width / CHAR_W))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def format_time(seconds: float) -> str:
    """Virtual seconds, short: "0", "0.25", "12.000001"."""
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return text or "0"


class _Layout:
    def __init__(self, lanes: list[str]) -> None:
        self.lanes = lanes
        self.lane_w = max(11.0, min(44.0, 280.0 / max(1, len(lanes))))
        self.label_x = IDX_W + TIME_W + len(lanes) * self.lane_w + 10
        # Many lanes: the label column gives up width so both runs still fit side by side.
        self.label_w = max(170.0, LABEL_W - max(0.0, len(lanes) * self.lane_w - 280.0))
        self.panel_w = self.label_x + self.label_w

    def lane_x(self, lane: str) -> float:
        return IDX_W + TIME_W + (self.lanes.index(lane) + 0.5) * self.lane_w


def _header(layout: _Layout, x0: float, panel: Panel, height: float) -> str:
    parts = [f'<text class="panel-title" x="{x0 + 4}" y="15">{esc(panel.title)}</text>']
    for n, lane in enumerate(layout.lanes):
        x = x0 + layout.lane_x(lane)
        if n % 2 == 0:
            parts.append(f'<rect x="{x - layout.lane_w / 2:.1f}" y="{TITLE_H}" width="{layout.lane_w:.1f}" '
                         f'height="{height - TITLE_H:.0f}" fill="#f3f5f9"/>')
        parts.append(f'<line x1="{x:.1f}" y1="{HEADER_H + TITLE_H - 4}" x2="{x:.1f}" y2="{height:.0f}" '
                     'stroke="#e1e5ec"/>')
        parts.append(f'<text class="lane-name"{attr("data-lane-header", lane)} '
                     f'transform="translate({x + 3.5:.1f},{HEADER_H + TITLE_H - 6}) rotate(-90)">'
                     f'<title>{esc(lane)}</title>{esc(_clip(lane, HEADER_H - 8))}</text>')
    parts.append(f'<text class="lane-name" x="{x0 + 2}" y="{HEADER_H + TITLE_H - 8}">step</text>')
    parts.append(f'<text class="lane-name" x="{x0 + IDX_W}" y="{HEADER_H + TITLE_H - 8}">t (s)</text>')
    parts.append(f'<text class="lane-name" x="{x0 + layout.label_x}" y="{HEADER_H + TITLE_H - 8}">'
                 'await point / event</text>')
    return "".join(parts)


def _step(layout: _Layout, x0: float, y: float, step: Step, panel: Panel, marks: Marks,
          departed: Mapping[int, list[int]], show_time: bool, differs: bool) -> str:
    failing = panel.run == "failing"
    raced = failing and step.index in marks.raced
    decisions = departed.get(step.index, []) if failing else []
    classes = ["step", "callback" if step.lane in PLUMBING else "actor"]
    if raced:
        classes.append("raced")
    if decisions:
        classes.append("departure")
    data = (attr("data-run", panel.run) + attr("data-step", step.index) + attr("data-lane", step.lane)
            + attr("data-actor", step.actor) + attr("data-kind", step.kind) + attr("data-label", step.label)
            + attr("data-time", format_time(step.time)))
    if raced:
        data += ' data-raced="1"'
    if decisions:
        data += attr("data-departure", ",".join(map(str, decisions)))
    if differs:
        data += ' data-differs="1"'
    band = "#fde8eb" if raced else ("#fff4dc" if decisions else ("#f3edff" if differs else "transparent"))
    cx, cy = x0 + layout.lane_x(step.lane), y + ROW_H / 2
    radius = min(5.5, layout.lane_w / 2 - 1.5)
    colour = "#d1263b" if raced else KIND_COLOURS.get(step.kind, "#475569")
    ring = ' stroke="#f59e0b" stroke-width="3"' if decisions or (failing and step.deviation) else ' stroke="#fff" stroke-width="1"'
    text = _clip(f"{step.actor} · {step.label}" if step.label and step.label != step.actor else step.actor,
                 layout.label_w - 6)
    label = f'<text class="label" x="{x0 + layout.label_x:.1f}" y="{cy + 4:.1f}">{esc(text)}</text>'
    link = marks.links.get(step.index) if failing else None
    if link:
        label = f'<a href="#{esc(link)}">{label}</a>'
    parts = [f'<g class="{" ".join(classes)}"{data}><title>{esc(f"step {step.index}: {step.actor} ({step.kind}) {step.label}")}</title>',
             f'<rect class="band" x="{x0:.1f}" y="{y:.1f}" width="{layout.panel_w:.1f}" height="{ROW_H}" fill="{band}"/>',
             f'<text class="idx" x="{x0 + 2}" y="{cy + 4:.1f}">{step.index}</text>']
    if show_time:
        parts.append(f'<text class="time" x="{x0 + IDX_W}" y="{cy + 4:.1f}">{esc(format_time(step.time))}</text>')
    if decisions:
        parts.append(f'<path d="M{x0 + IDX_W - 8:.1f},{cy - 5:.1f} l5,5 l-5,5 l-5,-5 z" fill="#f59e0b"/>')
    parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="{colour}"{ring}/>')
    parts.append(label + "</g>")
    return "".join(parts)


def timeline_svg(panels: Sequence[Panel], marks: Marks) -> str:
    """The side-by-side swimlane SVG of `panels` (the failing run first)."""
    lanes = _lanes(panels)
    layout = _Layout(lanes)
    by_run = [{s.index: s for s in p.steps} for p in panels]
    indices = sorted({i for steps in by_run for i in steps})
    rows = _rows(indices, marks)
    departed: dict[int, list[int]] = {}
    for departure in marks.departures:
        departed.setdefault(departure.step, []).append(departure.decision)
    # Row positions, shared by both panels: a gap opens where either run's clock moved.
    ys: list[float] = []
    y = float(HEADER_H + TITLE_H)
    last_time: list[float | None] = [None] * len(panels)
    for index in rows:
        if index is not None:
            moved = False
            for n, steps in enumerate(by_run):
                step = steps.get(index)
                if step is not None:
                    moved |= last_time[n] is not None and step.time != last_time[n]
                    last_time[n] = step.time
            y += TIME_GAP if moved else 0
        ys.append(y)
        y += ROW_H
    height = y + ROW_H * 2 + 8
    width = len(panels) * layout.panel_w + (len(panels) - 1) * PANEL_GAP
    body: list[str] = []
    for n, panel in enumerate(panels):
        x0 = n * (layout.panel_w + PANEL_GAP)
        body.append(f'<g class="panel"{attr("data-panel", panel.run)}>')
        body.append(_header(layout, x0, panel, height))
        shown: float | None = None
        other = by_run[1 - n] if len(by_run) == 2 else {}
        for index, row_y in zip(rows, ys):
            if index is None:
                body.append(f'<text class="time" x="{x0 + layout.label_x:.1f}" y="{row_y + 13:.1f}">'
                            '… steps elided …</text>')
                continue
            step = by_run[n].get(index)
            if step is None:
                continue
            mate = other.get(index)
            differs = len(panels) == 2 and (mate is None or (mate.actor, mate.label, mate.time)
                                            != (step.actor, step.label, step.time))
            body.append(_step(layout, x0, row_y, step, panel, marks, departed, step.time != shown, differs))
            shown = step.time
        colour = "#d1263b" if panel.failed else "#15803d"
        body.append(f'<text class="outcome" x="{x0 + layout.label_x:.1f}" y="{y + 14:.1f}" fill="{colour}" '
                    f'style="fill:{colour};font-weight:700">{esc(panel.outcome)}</text>')
        body.append("</g>")
    if marks.parted_at is not None and marks.parted_at in rows:
        line_y = ys[rows.index(marks.parted_at)] - 1
        body.append(f'<g class="parted" data-parted-at="{marks.parted_at}">'
                    f'<line x1="0" y1="{line_y:.1f}" x2="{width:.1f}" y2="{line_y:.1f}" stroke="#7c3aed" '
                    'stroke-width="2" stroke-dasharray="6 4"/>'
                    + "".join(
                        f'<rect x="{n * (layout.panel_w + PANEL_GAP) + IDX_W - 2:.1f}" y="{line_y - 7:.1f}" width="52" '
                        'height="14" rx="7" fill="#7c3aed"/>'
                        f'<text x="{n * (layout.panel_w + PANEL_GAP) + IDX_W + 24:.1f}" y="{line_y + 3.5:.1f}" '
                        'text-anchor="middle" style="fill:#fff;font-size:10px">parted</text>'
                        for n in range(len(panels)))
                    + f'<title>the two orders part here (step {marks.parted_at})</title></g>')
    return (f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" data-role="timeline" '
            f'data-lanes="{len(lanes)}" data-raced="{len(marks.raced)}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="swimlane timeline">'
            + "".join(body) + "</svg>")
