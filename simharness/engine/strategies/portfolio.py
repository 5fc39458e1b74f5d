"""The default strategy: a portfolio that alternates uniform random and PCT schedules.

Neither strategy dominates: uniform random finds bugs that need several departures
spread anywhere in a short run (a few binary decisions, any of which may fail), PCT
finds bugs that need one actor to keep its lead, or to lose it, at one precise point of
a long run, where random's departures everywhere else drown the one that matters.
Running both, one schedule each in turn, costs at most a factor of two against the
better of the two on any bug (each still runs every second schedule, with its own
schedule sequence), which a single strategy cannot promise.

Schedule i is a pure function of (seed, i, the scenario's observed decision count), as
for `random` and `pct` alone, so a portfolio exploration shards over workers.
Odd schedules are random (so schedule 1 is a random one), even schedules PCT with the
given depth.
"""

from __future__ import annotations

from collections.abc import Sequence

from simharness.engine.strategies.base import Option, Strategy
from simharness.engine.strategies.pct import DEFAULT_LENGTH, PCTStrategy
from simharness.engine.strategies.simple import RandomStrategy, derive_seed


class PortfolioStrategy:
    """Random on odd schedules, PCT (depth `depth`) on even ones; seeded per schedule."""

    name = "portfolio"

    def __init__(self, seed: int, depth: int = 3, initial_length: int = DEFAULT_LENGTH) -> None:
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        self.seed = seed
        self.depth = depth
        # Each member has its own seed, so the portfolio's random schedules are not the
        # ones `random` alone would run with the same seed at the same indices.
        self._random = RandomStrategy(derive_seed(seed, -1))
        self._pct = PCTStrategy(derive_seed(seed, -2), depth=depth, initial_length=initial_length)
        self._current: Strategy = self._random

    @property
    def member(self) -> str:
        """The name of the strategy deciding the current schedule."""
        return self._current.name

    def begin_run(self, run_index: int) -> bool:
        self._current = self._random if run_index % 2 else self._pct
        return self._current.begin_run(run_index)

    def choose(self, options: Sequence[Option]) -> int:
        return self._current.choose(options)

    def end_run(self) -> None:
        self._current.end_run()
