"""The default strategy: a portfolio that alternates uniform random and swarm schedules.

No single strategy is good on every bug (docs/bugbench.md). Uniform random finds bugs
that need a few departures spread anywhere in a short run; swarm (`swarm.py`: per
schedule, each event source draws its own hold-back propensity) finds bugs that need
one source held back for a long stretch and released at one point (a worker thread's
late post, a reply that must come after several others, the k-checkpoint token race),
where uniform random's chance falls as 2^-n with the length of the stretch. Running
both, one schedule each in turn, gives every bug at least half the per-schedule chance
of the better member (each still runs every second schedule, with its own schedule
sequence), so the expected schedules to a failure are at most twice the better member's.

Until 2026-12-08 the second member was PCT. Swarm took its place: on the bench it is
as good as PCT or better where PCT beat random (the redis entries), and several times
better than both on the one bug neither found quickly
(`janus_join_spins_on_stale_finished`: about 45 failing schedules per 1000, against 10
for random and 5 for PCT). PCT stays ahead on deep single-window races such as the
k-checkpoint token race of the README (pct 4-5 schedules, this portfolio 8-14), and
stays available as `--strategy pct`.

Schedule i is a pure function of (seed, i), as for `random` and `swarm` alone, so a
portfolio exploration shards over workers. Odd schedules are random (so schedule 1 is a
random one), even schedules swarm.
"""

from __future__ import annotations

from collections.abc import Sequence

from simharness.engine.strategies.base import Option, Strategy
from simharness.engine.strategies.pct import DEFAULT_LENGTH
from simharness.engine.strategies.simple import RandomStrategy, derive_seed
from simharness.engine.strategies.swarm import SwarmStrategy


class PortfolioStrategy:
    """Random on odd schedules, swarm on even ones; seeded per schedule.

    `depth` and `initial_length` are PCT's parameters, accepted (and `depth` checked) so
    that callers that build every indexed strategy alike (`explore/schedules.py`) keep
    working; no member uses them now.
    """

    name = "portfolio"

    def __init__(self, seed: int, depth: int = 3, initial_length: int = DEFAULT_LENGTH) -> None:
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        self.seed = seed
        self.depth = depth
        # Each member has its own seed, so the portfolio's random schedules are not the
        # ones `random` alone would run with the same seed at the same indices.
        self._random = RandomStrategy(derive_seed(seed, -1))
        self._swarm = SwarmStrategy(derive_seed(seed, -3))
        self._current: Strategy = self._random

    @property
    def member(self) -> str:
        """The name of the strategy deciding the current schedule."""
        return self._current.name

    def begin_run(self, run_index: int) -> bool:
        self._current = self._random if run_index % 2 else self._swarm
        return self._current.begin_run(run_index)

    def choose(self, options: Sequence[Option]) -> int:
        return self._current.choose(options)

    def end_run(self) -> None:
        self._current.end_run()
