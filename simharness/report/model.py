"""The parts of a result document the report draws, read defensively into dataclasses.

A report is made from the JSON alone (a CI artifact, maybe from another machine or
version), so missing keys fall back to neutral values instead of failing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from simharness.errors import SimharnessError

# "token_overwrite.py:155 checkpoint()" -> file, line; event labels have no file.
_WHERE = re.compile(r"^(?P<file>[^\s:]+\.pyw?):(?P<line>\d+)\b")


class ReportError(SimharnessError):
    """The input is not a result document simharness wrote (explore, replay or stress)."""


@dataclass(frozen=True)
class Step:
    """One step of a detailed trace, as drawn: a mark in its lane at its virtual time."""

    index: int
    actor: str
    lane: str
    kind: str
    label: str
    time: float
    decision: int | None
    deviation: bool
    access: str

    @property
    def where(self) -> tuple[str, int] | None:
        """(file name, line) of the await point, when the label names one."""
        match = _WHERE.match(self.label)
        return (match["file"], int(match["line"])) if match else None


@dataclass(frozen=True)
class Departure:
    """A decision that took something other than the default, from the explanation."""

    decision: int
    step: int
    time: float
    options: tuple[str, ...]
    chosen: int
    taken: str
    default: str
    window: tuple[int, ...]        # step indices the explanation names around it
    parted_at: int | None
    parted_failing: str
    parted_fifo: str


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def steps_of(raw: Any) -> tuple[Step, ...]:
    """The steps of a `trace` / `fifo_trace` list."""
    steps = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        decision = item.get("decision")
        steps.append(Step(
            index=int(_number(item.get("index"), len(steps) + 1)), actor=_text(item.get("actor")),
            lane=_text(item.get("lane") or item.get("actor")), kind=_text(item.get("kind")),
            label=_text(item.get("label")), time=_number(item.get("time")),
            decision=int(decision) if isinstance(decision, int) else None,
            deviation=bool(item.get("deviation")), access=_text(item.get("access"))))
    return tuple(steps)


def _view_text(view: Any) -> str:
    if not isinstance(view, dict):
        return ""
    return f"#{view.get('index')} {_text(view.get('actor'))} {_text(view.get('label'))}".strip()


def _indices(views: Any) -> tuple[int, ...]:
    return tuple(int(v["index"]) for v in views or () if isinstance(v, dict) and isinstance(v.get("index"), int))


def departures_of(explanation: Any, decisions: Any) -> tuple[Departure, ...]:
    """Departures from the explanation; without one, from the decisions with chosen != 0."""
    found: list[Departure] = []
    if isinstance(explanation, dict):
        for item in explanation.get("departures") or ():
            options = tuple(_text(o) for o in item.get("options") or ())
            chosen = int(_number(item.get("chosen")))
            parted = item.get("parted_at")
            found.append(Departure(
                decision=int(_number(item.get("decision"))), step=int(_number(item.get("step"))),
                time=_number(item.get("time")), options=options, chosen=chosen,
                taken=_text(item.get("taken")), default=_text(item.get("default")),
                window=_indices(item.get("before")) + _indices(item.get("after")),
                parted_at=parted if isinstance(parted, int) else None,
                parted_failing=_view_text(item.get("parted_failing")),
                parted_fifo=_view_text(item.get("parted_fifo"))))
        return tuple(found)
    for item in decisions if isinstance(decisions, list) else ():
        chosen = int(_number(item.get("chosen")))
        if chosen == 0:
            continue
        options = tuple(_text(o) for o in item.get("options") or ())
        found.append(Departure(
            decision=int(_number(item.get("index"))), step=int(_number(item.get("step"))),
            time=_number(item.get("time")), options=options, chosen=chosen,
            taken=options[chosen] if chosen < len(options) else "", default=options[0] if options else "",
            window=(), parted_at=None, parted_failing="", parted_fifo=""))
    return tuple(found)


def document_kind(document: Any) -> str:
    """"replay", "explore" or "stress"; `ReportError` for anything else."""
    if isinstance(document, dict):
        if "trace" in document and "schedule" in document:
            return "replay"
        if "verdicts" in document and isinstance(document.get("results"), list):
            return "stress"
        if "target" in document and isinstance(document.get("results"), list):
            return "explore"
    raise ReportError("not a simharness result document: expected the JSON of explore, replay or stress "
                      "(--json, or reports/stress-summary.json)")
