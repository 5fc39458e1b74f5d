"""Shrinking a failing schedule toward fewer, earlier departures from the default order.

A candidate is a list of choice indices replayed leniently (`GuidedStrategy`); it is
kept when it fails with the same kind and is smaller in shortlex order of (number of
non-default choices, length, indices). Passes are deterministic and every accepted
candidate is strictly smaller, so shrinking always ends.
"""

from __future__ import annotations

from .execution import Execution
from .outcome import RunResult
from .strategies import GuidedStrategy


def _size(result: RunResult) -> tuple[int, int, tuple[int, ...]]:
    indices = result.schedule.indices
    return (sum(1 for i in indices if i), len(indices), indices)


def _trimmed(indices: tuple[int, ...]) -> tuple[int, ...]:
    end = len(indices)
    while end and indices[end - 1] == 0:
        end -= 1
    return indices[:end]


def shrink_failure(execution: Execution, found: RunResult, max_replays: int = 2000) -> tuple[RunResult, int]:
    """Return the smallest failing run found from `found`, and how many replays it took."""
    assert found.failure is not None
    kind = found.failure.kind
    best = found
    replays = 0
    seen: set[tuple[int, ...]] = set()

    def attempt(indices: tuple[int, ...]) -> bool:
        nonlocal best, replays
        indices = _trimmed(indices)
        if indices in seen or replays >= max_replays:
            return False
        seen.add(indices)
        strategy = GuidedStrategy(indices)
        strategy.begin_run(1)
        replays += 1
        result = execution.run(strategy)
        if result.failure is not None and result.failure.kind == kind and _size(result) < _size(best):
            best = result
            return True
        return False

    improved = True
    while improved and replays < max_replays:
        improved = False
        current = _trimmed(best.schedule.indices)
        # Pass 1: drop each non-default choice (make it the default).
        for position in range(len(current)):
            if current[position] and attempt(current[:position] + (0,) + current[position + 1:]):
                improved = True
                break
        if improved:
            continue
        # Pass 2: lower each non-default choice toward 0.
        for position in range(len(current)):
            for lower in range(1, current[position]):
                if attempt(current[:position] + (lower,) + current[position + 1:]):
                    improved = True
                    break
            if improved:
                break
        if improved:
            continue
        # Pass 3: move a non-default choice one decision earlier.
        for position in range(1, len(current)):
            if current[position] and not current[position - 1]:
                moved = current[:position - 1] + (current[position], 0) + current[position + 1:]
                if attempt(moved):
                    improved = True
                    break
    return best, replays
