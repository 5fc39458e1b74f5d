"""A delay plan in simulation: checkpoints that take long, everything else prompt.

A *delay plan* names checkpoints (`site#n`: the n-th checkpoint posted at `site` in the
run, counted the way the real backend counts them) that take long, in the order they
finish. `PlannedDelays` is the strategy that runs a plan on the controlled loop the way
the stock loop runs it with real sleeps: a planned checkpoint stays pending while
anything else can happen (ready callbacks, loopback deliveries, thread results, timers
due before it), and the earliest planned one finishes when nothing else can. Every
other outside event takes the stock loop's default. The run it gives is the
checkpoint-only version of a found failure: if it still fails the same way, the plan's
durations reproduce the failure on the stock runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from simharness.engine.loop import ControlledLoop
from simharness.engine.strategies.base import Option

CHECKPOINT_KEY = "checkpoint:"


@dataclass(frozen=True)
class Posting:
    """One checkpoint as the simulated run posted it."""

    name: str          # "site#n"
    task: str          # the task that awaited it
    step: int          # the step that posted it
    time: float        # virtual seconds at the posting


@dataclass(frozen=True)
class PlannedCheckpoint:
    """A checkpoint of a delay plan: when (in order) it finishes, and its virtual duration."""

    name: str
    order: int         # 0 = the first planned checkpoint to finish
    span_s: float      # virtual time it stayed pending (timers it outlasted)


class PostingLog:
    """Called by `sh.checkpoint` in simulation (`api.checkpoint_posted`): names every posting."""

    def __init__(self) -> None:
        self.postings: list[Posting] = []
        self.pending: dict[str, str] = {}  # task name -> name of the checkpoint it awaits
        self._counts: dict[str, int] = {}

    def __call__(self, task: str, site: str) -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ControlledLoop)
        number = self._counts[site] = self._counts.get(site, 0) + 1
        name = f"{site}#{number}"
        self.pending[task] = name
        self.postings.append(Posting(name, task, loop.steps, loop.time()))

    def waiting_at(self, option: Option) -> str | None:
        """The checkpoint a checkpoint option stands for (None for other options)."""
        if option.kind != "checkpoint" or not option.key.startswith(CHECKPOINT_KEY):
            return None
        return self.pending.get(option.key[len(CHECKPOINT_KEY):])


class PlannedDelays:
    """Strategy: run a delay plan as real sleeps would (see the module docstring)."""

    name = "planned-delays"

    def __init__(self, plan: Mapping[str, PlannedCheckpoint], log: PostingLog) -> None:
        self.plan = dict(plan)
        self.log = log
        self._finished: set[str] = set()
        self._select_step = -1
        self._released_here = False

    def begin_run(self, run_index: int) -> bool:
        return run_index == 1

    def end_run(self) -> None:
        pass

    def _due(self, name: str) -> float:
        posted = next((p.time for p in self.log.postings if p.name == name), 0.0)
        return posted + self.plan[name].span_s

    def choose(self, options: Sequence[Option]) -> int:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ControlledLoop)
        if loop.steps != self._select_step:  # the first decision of a new select
            self._select_step, self._released_here = loop.steps, False
        held: list[tuple[int, int, str]] = []  # (order, option index, name)
        others: list[int] = []
        for index, option in enumerate(options):
            name = self.log.waiting_at(option)
            if name is not None and name in self.plan and name not in self._finished:
                held.append((self.plan[name].order, index, name))
            else:
                others.append(index)
        chosen = self._pick(options, held, others, loop)
        picked = next((name for _, index, name in held if index == chosen), None)
        if picked is not None:
            self._finished.add(picked)
        self._released_here = self._released_here or options[chosen].kind != "fifo"
        return chosen

    def _pick(self, options: Sequence[Option], held: list[tuple[int, int, str]], others: list[int],
              loop: ControlledLoop) -> int:
        if others and options[others[0]].kind != "fifo":
            return others[0]  # an event that is not planned to be slow: the stock default
        if not held:
            return others[0]
        _, first, name = min(held)
        if not others:
            return first  # nothing else can happen: the earliest planned checkpoint finishes
        if loop.has_ready_work() or self._released_here:
            return others[0]  # the loop still has work of its own: the checkpoint is slower
        deadline = loop.next_deadline()
        # Only timers are left: those due before the checkpoint finishes fire first.
        return first if deadline is None or deadline > self._due(name) else others[0]
