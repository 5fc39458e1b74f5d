"""Swarm scheduling: per schedule, each event source gets its own hold-back propensity.

Swarm testing (Groce et al., "Swarm testing", ISSTA 2012) draws, for each test, a
random *configuration* that leaves features out, instead of making every test a mix of
all of them: a bug that needs a feature to be absent, or one feature to dominate, is
then found by the configurations that do so, while a uniform mix almost never gets there.

Here the features are the outside event sources, named by option key (a checkpointing
task, a thread's results, a connection's direction). Each schedule gives every key,
when first offered, a *hold-back propensity* drawn from `PROPENSITIES`. At a decision
every offered event independently "wants out" with probability 1 - propensity; one of
those that want out is released, chosen uniformly; when none does, the loop's own work
goes on (`FIFO_OPTION`) if the loop offers that. When it does not (it cannot wait any
longer), one event must go, and how it is chosen is itself drawn per schedule, half and
half: uniformly, or the source with the lowest propensity (ties uniformly), so that a
source at propensity 1 stays back behind the others until they are done.

Why: uniform random gives every decision an even chance, so an event held back for a
long stretch and then released at one point (a worker thread's late "all done" post, a
request that must come in after several others) is rare, about 2^-n for n decisions.
A schedule whose configuration holds that source back with propensity 0.9 or 1 keeps it
back for as long as the loop lets it, one with 0.67 for about three offers (the most
likely count for "held twice, released at the third"), while the sources with 0.5 go
on as under random. Propensity 0 is left out: a source released at its first offer is
what the stock order already does at most decisions, and on the bench it only diluted
the configurations that matter. Both rules for the forced choice are needed: the
janus entry of the bench needs the held-back source released at a forced decision
before one with a lower propensity (uniform: 51 failing schedules per 1000; ranked
only: 12), the k-checkpoint token race of the README needs it kept back behind all of
the other task's checkpoints (median schedules to failure for k = 3 / 10 / 20: uniform
only 8.5 / 151.5 / 1710.5; ranked only 3 / 3 / 3.5; half and half 6 / 9 / 9).

Schedule i is a pure function of (seed, i): every draw comes from a `random.Random`
seeded with `derive_seed(seed, i)`, and options arrive in a deterministic order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from simharness.engine.strategies.base import Option
from simharness.engine.strategies.simple import derive_seed

#: The hold-back propensities a source can draw, one per source and schedule.
PROPENSITIES: tuple[float, ...] = (0.5, 0.67, 0.9, 1.0)


class SwarmStrategy:
    """Per schedule, a random hold-back propensity per event source; seeded per schedule."""

    name = "swarm"

    def __init__(self, seed: int, propensities: Sequence[float] = PROPENSITIES) -> None:
        if not propensities or any(not 0.0 <= p <= 1.0 for p in propensities):
            raise ValueError("swarm propensities must be a non-empty set of values in [0, 1]")
        self.seed = seed
        self.propensities = tuple(propensities)
        self._rng = random.Random(seed)
        self._propensity: dict[str, float] = {}
        self._ranked = False  # this schedule's forced-choice rule (see the module doc)

    def begin_run(self, run_index: int) -> bool:
        self._rng = random.Random(derive_seed(self.seed, run_index))
        self._propensity = {}
        self._ranked = self._rng.random() < 0.5
        return True

    def propensity(self, key: str) -> float:
        """The hold-back propensity of source `key` in this schedule (drawn when first offered)."""
        value = self._propensity.get(key)
        if value is None:
            value = self._propensity[key] = self._rng.choice(self.propensities)
        return value

    def choose(self, options: Sequence[Option]) -> int:
        rng = self._rng
        fifo = -1
        events: list[int] = []
        for index, option in enumerate(options):
            if option.kind == "fifo":
                fifo = index
            else:
                events.append(index)
        # One draw per offered event, in the options' (deterministic) order.
        wanting = [i for i in events if rng.random() >= self.propensity(options[i].key)]
        if wanting:
            return wanting[rng.randrange(len(wanting))]
        if fifo >= 0:
            return fifo
        if not events:
            return 0
        if not self._ranked:
            return events[rng.randrange(len(events))]
        # The loop cannot wait: the source least inclined to wait goes (ties: uniform).
        lowest = min(self.propensity(options[i].key) for i in events)
        least = [i for i in events if self.propensity(options[i].key) == lowest]
        return least[rng.randrange(len(least))]

    def end_run(self) -> None:
        return None
