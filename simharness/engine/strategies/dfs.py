"""Exhaustive depth-first enumeration of every schedule, optionally bounded, with state pruning.

The path of the current schedule is a list of [chosen, options] pairs. After each
run the deepest decision with an untried option moves to its next option and
everything below it is forgotten; when no decision has one left, the whole space
(within the bound on non-default choices) has been covered and `exhausted` is True.

**Reduction** (on by default; `reduction=False` is plain dfs). Many schedules differ
only in choices that lead to the same state: an event released in this select or held
to the next one, when nothing runs in between either way; two events released in one
order or the other, when the other order is reached again later. The loop gives each
decision its *state*: a digest of the steps run so far (which event, timer or ready
callback, at which virtual time), the clock, the held-back counter and the events
already released in this select (`engine/history.py`). A decision met in a state from
which an earlier schedule already explored every continuation (with at least as many
non-default choices left under `bound`) is not expanded: the rest of that run takes the
default order, and its subtree is never enumerated.

Why that is sound (no outcome is lost):

* Same history, same state. The loop runs asyncio's own loop iteration; the only
  inputs a run has are its decisions, and a decision only picks which pending event
  runs when. Each step is identified by what it is given the steps before it (an
  event's key names the oldest pending event of that key; a plain callback is always
  the oldest in the FIFO ready queue). So two runs with the same digest ran the same
  callbacks in the same order at the same times, which, under the determinism every
  exhaustive strategy assumes (dfs raises `ScheduleDivergence` when the same choices
  give different options), leaves the same heap, the same ready queue, the same pending
  events and timers. The decision's options and every continuation are then the same.
* The earlier subtree is complete. States grow along one path (every decision follows
  a step, a clock move or one more release), so an earlier node with the same state is
  not an ancestor of the current one (checked anyway), and depth-first order has
  finished its subtree before reaching any node outside it. By induction over that
  order, every pruned subtree's schedules (outcomes included) were run in that subtree.
* Collisions: the digest is 127 bits with a random base per process; two different
  histories of n steps collide with probability at most n / 2^127 (keys are numbered
  exactly, not hashed).

No independence between events is assumed: two deliveries on different connections,
or two tasks that share no awaited object, still count as dependent (they may write
the same object, which is exactly the catalogue's message-order races). Only schedules
that provably reach an already explored state are skipped. In preemptive mode the loop
gives no state (a ready callback is not identified by its position there) and dfs is
plain dfs.
"""

from __future__ import annotations

from collections.abc import Sequence

from simharness.errors import ScheduleDivergence
from simharness.engine.strategies.base import Option


class DFSStrategy:
    """Enumerates all schedules; `bound` limits how many decisions may leave the default;
    `reduction` skips decisions in states already explored from (see the module doc)."""

    name = "dfs"

    def __init__(self, bound: int | None = None, *, reduction: bool = True) -> None:
        if bound is not None and bound < 0:
            raise ValueError("dfs bound must be >= 0")
        self.bound = bound
        self.reduction = reduction
        self.exhausted = False
        #: Runs cut short at a decision whose state was already explored from.
        self.pruned = 0
        self._path: list[list[int]] = []
        self._position = 0
        # state -> the most non-default choices left when a subtree from it was enumerated.
        self._explored: dict[int, int] = {}
        self._path_states: list[int | None] = []  # the state of each decision on the path
        self._state: int | None = None            # the current decision's, from the loop
        self._cut = False                         # this run met an explored state

    @property
    def reduced(self) -> bool:
        """Whether pruning was on and had a digest to work with (at least one state seen)."""
        return self.reduction and bool(self._explored)

    def begin_run(self, run_index: int) -> bool:
        if run_index > 1 and not self._advance():
            self.exhausted = True
            return False
        self._position = 0
        self._cut = False
        self._state = None
        return True

    def _advance(self) -> bool:
        path = self._path
        for depth in range(len(path) - 1, -1, -1):
            chosen, options = path[depth]
            if chosen + 1 >= options:
                continue
            if self.bound is not None and self._used(depth) + 1 > self.bound:
                continue
            path[depth][0] = chosen + 1
            del path[depth + 1:]
            del self._path_states[depth + 1:]
            return True
        return False

    def _used(self, depth: int) -> int:
        """Non-default choices on the path above `depth`."""
        return sum(1 for chosen, _ in self._path[:depth] if chosen)

    def observe_state(self, state: int) -> None:
        """The loop's digest of the state at the decision it is about to ask (engine/history.py)."""
        self._state = state

    def choose(self, options: Sequence[Option]) -> int:
        state, self._state = self._state, None
        if self._cut:
            return 0  # the rest of a pruned run: its continuations were explored elsewhere
        position = self._position
        if position < len(self._path):
            self._position += 1
            chosen, known = self._path[position]
            if known != len(options):
                raise ScheduleDivergence(position + 1, "the scenario is not deterministic: the same "
                                         f"choices led to {len(options)} options instead of {known}")
            return chosen
        if self.reduction and state is not None and self._explored_before(state, position):
            self._cut = True
            self.pruned += 1
            return 0
        self._position += 1
        self._path.append([0, len(options)])
        self._path_states.append(state)
        return 0

    def _explored_before(self, state: int, position: int) -> bool:
        """True when a finished subtree already covers this state; else record this one."""
        left = -1 if self.bound is None else self.bound - self._used(position)
        before = self._explored.get(state)
        if before is not None and before >= left and state not in self._path_states:
            return True
        self._explored[state] = left if before is None else max(before, left)
        return False

    def end_run(self) -> None:
        del self._path[self._position:]
        del self._path_states[self._position:]
