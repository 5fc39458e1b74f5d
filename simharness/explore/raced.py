"""Which shared state raced: the last conflicting accesses, from the accesses a replay recorded.

A member of a shared object (an attribute, a dict or list item) raced when two
actors touched it and at least one wrote it (`engine/accesses.py` keeps only
those). Of them, the ones that matter are those touched in another order than in
the default (FIFO) run: the decisions that departed from the default reordered
them. They are ranked by how late their last conflict came (the one nearest the
failure first), and each is told by its last few touches, actor by actor:

    raced on `MCPProvider.metrics.requests_made`: Task-2 read it at step 2
    (metrics_lost_update.py:56); Task-3 read it at step 5 (...:56); Task-2 wrote it
    at step 6 (...:58); Task-3 wrote it at step 9 (...:58)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from simharness.outcome import Access, TraceStep

#: Raced members named in an explanation at most, and touches told for each.
SHOWN_STATES, SHOWN_TOUCHES = 3, 4

_Location = tuple[int, str]


@dataclass(frozen=True)
class Touch:
    """One actor's consecutive accesses to a raced member: its first read before writing, its last write."""

    actor: str
    read: Access | None
    wrote: Access | None

    def describe(self) -> str:
        parts = [f"{'read' if a is self.read else 'wrote'} it{_how(a)} at step {a.step} ({a.where})"
                 for a in (self.read, self.wrote) if a is not None]
        return f"{self.actor} " + " and ".join(parts)


@dataclass(frozen=True)
class RacedState:
    """A shared member two actors touched, one writing, with its last conflicting touches in order."""

    name: str                   # "MCPProvider.metrics.requests_made", "store.tokens['user-1']"
    touches: tuple[Touch, ...]
    reordered: bool             # touched in another order than in the default (FIFO) run
    last_conflict: int          # step of its last touch that followed another actor's, a write on one side
    handoff: bool = False       # one actor wrote it, then others only read it

    def describe(self) -> str:
        return f"raced on `{self.name}`: " + "; ".join(t.describe() for t in self.touches)


def _how(access: Access) -> str:
    return f" ({access.how})" if access.how and access.how != "in" else (" (`in`)" if access.how else "")


def _owner_names(accesses: Sequence[Access]) -> dict[int, str]:
    """Each object's name: the one the code used most often for it (the first of equals)."""
    counts: dict[int, Counter[str]] = {}
    for access in accesses:
        counts.setdefault(access.obj, Counter())[access.owner] += 1
    return {obj: names.most_common(1)[0][0] for obj, names in counts.items()}


def _locations(accesses: Sequence[Access]) -> dict[_Location, list[Access]]:
    """Accesses by member; an access to a container as a whole belongs to each of its items too."""
    by: dict[_Location, list[Access]] = {}
    for access in accesses:
        if access.member:
            by.setdefault((access.obj, access.member), []).append(access)
    items = {obj for obj, member in by if member.startswith("[")}
    for access in accesses:
        if not access.member:
            targets = [loc for loc in by if loc[0] == access.obj and loc[1].startswith("[")]
            for location in targets if access.obj in items else [(access.obj, "")]:
                by.setdefault(location, []).append(access)
    for touches in by.values():
        touches.sort(key=lambda a: a.step)  # stable: accesses of one step keep their order
    return by


def _runs(accesses: list[Access]) -> list[list[Access]]:
    runs: list[list[Access]] = []
    for access in accesses:
        if runs and runs[-1][0].actor == access.actor:
            runs[-1].append(access)
        else:
            runs.append([access])
    return runs


def _touch(run: list[Access]) -> Touch:
    writes = [a for a in run if a.write]
    if not writes:
        return Touch(run[0].actor, run[-1], None)
    first_write = run.index(writes[0])
    reads = [a for a in run[:first_write] if not a.write]
    return Touch(run[0].actor, reads[0] if reads else None, writes[-1])


def _order(accesses: list[Access]) -> tuple[object, ...]:
    """The order that matters: the writers in turn, and which actors read between two writes.

    Two reads between the same writes may come in either order: that is no race. With
    one writer, actors are named by turn ("the writer", "the first reader"...): which
    task number produced a value and which consumed it is no race either, only whether
    a read came before or after the write.
    """
    names: dict[str, str] = {}
    if len({a.actor for a in accesses if a.write}) == 1:
        for access in accesses:
            names.setdefault(access.actor, f"#{len(names) + 1}")
    order: list[object] = []
    readers: set[str] = set()
    for access in accesses:
        actor = names.get(access.actor, access.actor)
        if access.write:
            order += [frozenset(readers), actor]
            readers = set()
        else:
            readers.add(actor)
    return (*order, frozenset(readers))


def _shape(accesses: list[Access]) -> list[tuple[str, bool]]:
    return [(run[0].actor, any(a.write for a in run)) for run in _runs(accesses)]


def _parting(runs: list[list[Access]], fifo: list[list[tuple[str, bool]]]) -> int:
    """The first touch where the failing run's sequence leaves the closest FIFO sequence."""
    mine = [(run[0].actor, any(a.write for a in run)) for run in runs]
    best = 0
    for theirs in fifo:
        same = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        best = max(best, same)
    return best


def _last_conflict(runs: list[list[Access]]) -> int | None:
    for before, after in reversed(list(zip(runs, runs[1:]))):
        if any(a.write for a in before) or any(a.write for a in after):
            return after[0].step
    return None


@dataclass(frozen=True)
class _Fifo:
    """The FIFO run's raced members by name: their orders and touch sequences."""

    orders: dict[str, set[tuple[object, ...]]]
    shapes: dict[str, list[list[tuple[str, bool]]]]


def _fifo(accesses: Sequence[Access]) -> _Fifo:
    owners = _owner_names(accesses)
    fifo = _Fifo({}, {})
    for (obj, member), touches in _locations(accesses).items():
        fifo.orders.setdefault(owners[obj] + member, set()).add(_order(touches))
        fifo.shapes.setdefault(owners[obj] + member, []).append(_shape(touches))
    return fifo


def _distinct_names(states: list[RacedState]) -> list[RacedState]:
    """Members of different objects named alike (two `Store.tokens`) get "(object 2)"... after the first."""
    seen: Counter[str] = Counter()
    named = []
    for state in states:
        seen[state.name] += 1
        count = seen[state.name]
        named.append(replace(state, name=f"{state.name} (object {count})") if count > 1 else state)
    return named


def raced_states(failing: Sequence[Access], fifo: Sequence[Access] | None = None, *,
                 fifo_fails: bool = False, limit: int = SHOWN_STATES) -> tuple[RacedState, ...]:
    """The raced members of a failing run, most relevant first (see the module docstring).

    With the FIFO run's accesses, the members touched in another order than there; if
    there are none and the FIFO run fails too (`fifo_fails`), or without the FIFO run's
    accesses, every raced member but hand-offs (one task wrote it, then others only
    read it: a result handed on, in the only order the code allows).
    """
    owners = _owner_names(failing)
    default = _fifo(fifo) if fifo is not None else None
    found: list[RacedState] = []
    for (obj, member), touches in _locations(failing).items():
        runs = _runs(touches)
        last = _last_conflict(runs)
        if last is None:
            continue
        name = owners[obj] + member
        reordered = default is not None and _order(touches) not in default.orders.get(name, set())
        # Told from where the order left the FIFO run's (the lost update's first read),
        # else its last touches.
        start = _parting(runs, default.shapes.get(name, [])) if reordered and default is not None else len(runs)
        start = min(start, len(runs) - SHOWN_TOUCHES) if start + SHOWN_TOUCHES > len(runs) else start
        shown = runs[max(0, start):max(0, start) + SHOWN_TOUCHES]
        handoff = len(runs) > 1 and all(not a.write for run in runs[1:] for a in run) and not any(
            run[0].actor == runs[0][0].actor for run in runs[1:])
        found.append(RacedState(name, tuple(_touch(run) for run in shown), reordered, last, handoff))
    found = _distinct_names(found)
    if default is not None:
        # What the departures reordered; when nothing was, the default order fails too (or
        # the race is not in these objects) and the conflicts that are no hand-off count.
        moved = [state for state in found if state.reordered]
        found = moved or ([state for state in found if not state.handoff] if fifo_fails else [])
    else:
        found = [state for state in found if not state.handoff]
    found.sort(key=lambda state: -state.last_conflict)  # stable: equals keep first-access order
    return tuple(found[:limit])


#: Said when accesses were recorded and no member raced.
NONE_RACED = ("raced state: none in the code's own objects (no attribute or item one task wrote was "
              "touched by another); what raced lies elsewhere: in a library's internals, a database, "
              "a file, a child process, or in what ran when rather than in shared data")


def raced_lines(states: Sequence[RacedState], *, recorded: bool, failed: bool) -> list[str]:
    """The raced state in words: one line per member, or (recorded, failing, none raced) why none is named."""
    if states:
        return [state.describe() for state in states]
    return [NONE_RACED] if recorded and failed else []


def mark_raced(trace: Sequence[TraceStep], states: Sequence[RacedState]) -> tuple[TraceStep, ...]:
    """The trace with `access` set on exactly the steps of the raced states' touches ("write X").

    The run itself notes every conflicting access; a report highlights only those the
    explanation names.
    """
    marks: dict[int, str] = {}
    for state in states:
        for touch in state.touches:
            for access in (touch.read, touch.wrote):
                if access is not None:
                    marks[access.step] = f"{'write' if access.write else 'read'} {state.name}"
    return tuple(replace(step, access=marks.get(step.index, "")) for step in trace)
