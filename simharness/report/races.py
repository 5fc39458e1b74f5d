"""Which steps of a failing trace raced: the operations to highlight and link to source.

Two sources of evidence, both recorded facts rather than guesses:
* shared-object accesses (`TraceStep.access`, "write store.tokens"), when the run
  recorded them: the last access of each task to an object that two tasks touched
  and at least one wrote;
* the explanation's departures: the step a departed decision released, the steps
  the explanation names around it (other tasks and outside-world events), and the
  step where the failing run and the FIFO run part.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Departure, Step

#: Lanes of asyncio's own plumbing (gather callbacks, run_until_complete): never "raced".
PLUMBING = frozenset({"callback"})


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


def raced_steps(steps: Sequence[Step], departures: Sequence[Departure]) -> frozenset[int]:
    """Indices of the steps that raced (see the module docstring)."""
    by_index = {s.index: s for s in steps}
    raced = _accesses(steps)
    for departure in departures:
        for index in (departure.step, departure.parted_at, *departure.window):
            step = by_index.get(index) if index is not None else None
            if step is not None and step.lane not in PLUMBING:
                raced.add(step.index)
    return frozenset(raced)
