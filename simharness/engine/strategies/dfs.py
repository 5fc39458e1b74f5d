"""Exhaustive depth-first enumeration of every schedule, optionally bounded.

The path of the current schedule is a list of [chosen, options] pairs. After each
run the deepest decision with an untried option moves to its next option and
everything below it is forgotten; when no decision has one left, the whole space
(within the bound on non-default choices) has been covered and `exhausted` is True.
"""

from __future__ import annotations

from collections.abc import Sequence

from simharness.errors import ScheduleDivergence
from simharness.engine.strategies.base import Option


class DFSStrategy:
    """Enumerates all schedules; `bound` limits how many decisions may leave the default."""

    name = "dfs"

    def __init__(self, bound: int | None = None) -> None:
        if bound is not None and bound < 0:
            raise ValueError("dfs bound must be >= 0")
        self.bound = bound
        self.exhausted = False
        self._path: list[list[int]] = []
        self._position = 0

    def begin_run(self, run_index: int) -> bool:
        if run_index > 1 and not self._advance():
            self.exhausted = True
            return False
        self._position = 0
        return True

    def _advance(self) -> bool:
        path = self._path
        for depth in range(len(path) - 1, -1, -1):
            chosen, options = path[depth]
            if chosen + 1 >= options:
                continue
            if self.bound is not None:
                used = sum(1 for c, _ in path[:depth] if c)
                if used + 1 > self.bound:
                    continue
            path[depth][0] = chosen + 1
            del path[depth + 1:]
            return True
        return False

    def choose(self, options: Sequence[Option]) -> int:
        position = self._position
        self._position += 1
        if position < len(self._path):
            chosen, known = self._path[position]
            if known != len(options):
                raise ScheduleDivergence(position + 1, "the scenario is not deterministic: the same "
                                         f"choices led to {len(options)} options instead of {known}")
            return chosen
        self._path.append([0, len(options)])
        return 0

    def end_run(self) -> None:
        del self._path[self._position:]
