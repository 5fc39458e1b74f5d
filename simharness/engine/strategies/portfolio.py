"""The default strategy: a portfolio of uniform random, swarm and PCT schedules in turn.

No single strategy is good on every bug (docs/bugbench.md). Uniform random finds bugs
that need a few departures spread anywhere in a short run; swarm (`swarm.py`: per
schedule, each event source draws its own hold-back propensity) finds bugs that need
one source held back for a long stretch and released at one point (a worker thread's
late post: `janus_join_spins_on_stale_finished`, about 36 failing schedules per 1000
against 10 for random and 5 for PCT); PCT finds deep single-window races such as the
k-checkpoint token race of the README (k=10: 186 per 1000, swarm 92, random 0).
Running the three, one schedule each in turn, gives every bug at least a third of the
per-schedule chance of the best member, and in practice about half of it: measured on
the bench and the token races, the portfolio's failure rate is within 2.1x of the
best member's everywhere (with random and swarm only, 2026-12-08 for one day, it was
3.7x worse than PCT on the k=10 and k=20 token races).

Schedule i is a pure function of (seed, i), as for each member alone, so a portfolio
exploration shards over workers: schedule i is random when i % 3 == 1 (schedule 1 too),
swarm when i % 3 == 2, PCT when i % 3 == 0. PCT's expected decision count is learned from
schedule 1, as for `pct` alone (`explore/schedules.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from simharness.engine.strategies.base import Option, Strategy
from simharness.engine.strategies.pct import DEFAULT_LENGTH, PCTStrategy
from simharness.engine.strategies.simple import RandomStrategy, derive_seed
from simharness.engine.strategies.swarm import SwarmStrategy


class PortfolioStrategy:
    """Random, swarm and PCT (depth `depth`) schedules in turn; seeded per schedule."""

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
        self._swarm = SwarmStrategy(derive_seed(seed, -3))
        self._members: tuple[Strategy, Strategy, Strategy] = (self._pct, self._random, self._swarm)
        self._current: Strategy = self._random

    @property
    def member(self) -> str:
        """The name of the strategy deciding the current schedule."""
        return self._current.name

    def begin_run(self, run_index: int) -> bool:
        self._current = self._members[run_index % 3]
        return self._current.begin_run(run_index)

    def choose(self, options: Sequence[Option]) -> int:
        return self._current.choose(options)

    def end_run(self) -> None:
        self._current.end_run()
