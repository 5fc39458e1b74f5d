"""Which steps of a failing trace raced: the operations to highlight and link to source.

Three sources of evidence, all recorded facts rather than guesses:
* shared-object accesses (`TraceStep.access`, "write store.tokens"), when the run
  recorded them: the last access of each task to an object that two tasks touched
  and at least one wrote;
* the explanation's departures: the step a departed decision released, the steps
  the explanation names around it (other tasks and outside-world events), and the
  step where the failing run and the FIFO run part;
* the reordering itself, near each departure (from a few steps before it to a few
  steps after the runs part; later the reordering cascades and says little): steps
  of two different actors that ran in one order in the failing run and in the other
  order in the FIFO run (the k-th step of an actor in one run is matched with its
  k-th step in the other).
"""

from __future__ import annotations

from collections.abc import Sequence

from simharness.report.model import Departure, Step

#: Lanes of asyncio's own plumbing (gather callbacks, run_until_complete): never "raced".
PLUMBING = frozenset({"callback"})
#: Steps before a departure and after the parting point searched for reordered pairs.
BEFORE, AFTER = 3, 8


def _accesses(steps: Sequence[Step]) -> set[int]:
    by_object: dict[str, list[tuple[Step, bool]]] = {}
    for step in steps:
        if not step.access:
            continue
        mode, _, target = step.access.partition(" ")
        by_object.setdefault(target or mode, []).append((step, mode == "write"))
    raced: set[int] = set()
    for touches in by_object.values():
        actors = {s.actor for s, _ in touches}
        if len(actors) < 2 or not any(write for _, write in touches):
            continue
        last: dict[str, int] = {}
        for step, _ in touches:
            last[step.actor] = step.index
        raced.update(last.values())
    return raced


def _keys(steps: Sequence[Step]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    keys = []
    for step in steps:
        seen[step.actor] = seen.get(step.actor, 0) + 1
        keys.append((step.actor, seen[step.actor]))
    return keys


def _reordered(steps: Sequence[Step], fifo: Sequence[Step], departures: Sequence[Departure]) -> set[int]:
    if not fifo:
        return set()
    where = {key: n for n, key in enumerate(_keys(fifo))}
    mine = _keys(steps)
    windows = [(d.step - BEFORE, max(d.step, d.parted_at or d.step) + AFTER) for d in departures]
    raced: set[int] = set()
    for i, first in enumerate(steps):
        if first.lane in PLUMBING or mine[i] not in where:
            continue
        for j in range(i + 1, len(steps)):
            second = steps[j]
            if not any(low <= first.index and second.index <= high for low, high in windows):
                break
            if second.lane in PLUMBING or second.actor == first.actor or mine[j] not in where:
                continue
            if where[mine[j]] < where[mine[i]]:
                raced.update((first.index, second.index))
    return raced


#: Tasks whose last step is shown when the default order fails too (no departure to go by).
LAST_TASKS = 4


def last_task_steps(steps: Sequence[Step]) -> frozenset[int]:
    """When no decision departed: the last step of each of the last few tasks before the end.

    The default order fails by itself, so nothing was reordered; the best recorded
    evidence is what each task did last before the oracle fired.
    """
    chosen: dict[str, int] = {}
    for step in reversed(steps):
        if step.kind == "task" and step.lane not in PLUMBING and step.actor not in chosen:
            chosen[step.actor] = step.index
            if len(chosen) == LAST_TASKS:
                break
    return frozenset(chosen.values())


def raced_steps(steps: Sequence[Step], departures: Sequence[Departure],
                fifo: Sequence[Step] = ()) -> frozenset[int]:
    """Indices of the steps that raced (see the module docstring)."""
    by_index = {s.index: s for s in steps}
    raced = _accesses(steps) | _reordered(steps, fifo, departures)
    for departure in departures:
        for index in (departure.step, departure.parted_at, *departure.window):
            step = by_index.get(index) if index is not None else None
            if step is not None and step.lane not in PLUMBING:
                raced.add(step.index)
    return frozenset(raced)
