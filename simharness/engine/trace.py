"""Observers of runs: the trace hash every run computes, and the detailed trace of replays.

Observers receive each step and decision from the loop (trio's Instrument idea);
the loop itself never records or formats anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from simharness.engine.accesses import AccessRecorder
from simharness.engine.loop import await_point
from simharness.outcome import Access, DecisionRecord, TraceStep
from simharness.engine.strategies.base import Option


class TraceHasher:
    """Folds the identity of every step into a hash: same steps, same hash.

    Plain callbacks (asyncio's own plumbing, such as a gather's done callback) are
    left out, so the hash names what user-visible actors did, in which order, at
    which virtual time, and which option each decision took.
    """

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._last_time = 0

    def on_step(self, step: int, task: asyncio.Task[Any] | None, kind: str, key: str, now_ns: int,
                label: str = "", decision: int | None = None) -> None:
        if now_ns != self._last_time:
            self._items.append(now_ns)
            self._last_time = now_ns
        if kind != "callback":
            self._items.append(key)

    def on_decision(self, step: int, options: Sequence[Option], chosen: int, now_ns: int) -> None:
        self._items.append((chosen, len(options)))

    def digest(self, outcome: str) -> str:
        text = repr(self._items) + "|" + outcome
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class DetailedTrace(TraceHasher):
    """A `TraceHasher` that also keeps every step with its await point (for replay --trace)."""

    def __init__(self, recorder: AccessRecorder | None = None) -> None:
        super().__init__()
        self.steps: list[TraceStep] = []
        self.decisions: list[DecisionRecord] = []
        self.recorder = recorder  # told who runs each step, when the run records accesses

    def on_step(self, step: int, task: asyncio.Task[Any] | None, kind: str, key: str, now_ns: int,
                label: str = "", decision: int | None = None) -> None:
        super().on_step(step, task, kind, key, now_ns)
        if task is not None:
            filename, line, awaited = await_point(task)
            where = f"{os.path.basename(filename)}:{line}" if filename else ""
            label = f"{where} {awaited}".strip()
            lane = actor = task.get_name()
        else:
            label, actor = label or key, key
            lane = kind if kind in ("callback", "timer") else key
        deviation = decision is not None and self.decisions[decision - 1].chosen != 0
        if self.recorder is not None:
            self.recorder.at_step(step, actor)
        self.steps.append(TraceStep(index=step, actor=actor, lane=lane, kind=kind, label=label,
                                    time=now_ns / 1e9, decision=decision, deviation=deviation))

    def on_decision(self, step: int, options: Sequence[Option], chosen: int, now_ns: int) -> None:
        super().on_decision(step, options, chosen, now_ns)
        index = len(self.decisions) + 1
        self.decisions.append(DecisionRecord(index=index, step=step + 1, time=now_ns / 1e9,
                                             options=tuple(f"{o.key}: {o.label}" for o in options),
                                             chosen=chosen))


def with_accesses(steps: Sequence[TraceStep], accesses: Sequence[Access]) -> tuple[TraceStep, ...]:
    """The steps with `access` set: each step's last write to a shared object, else its last read."""
    chosen: dict[int, Access] = {}
    for access in accesses:
        if access.write or not chosen.get(access.step, access).write:
            chosen[access.step] = access
    return tuple(replace(step, access=f"{'write' if a.write else 'read'} {a.name}")
                 if (a := chosen.get(step.index)) is not None else step for step in steps)
