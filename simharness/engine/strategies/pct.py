"""PCT: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010), on options.

The paper's threads are this loop's *actors*: every option key (a connection's
direction, a checkpointing task, a thread's result, a child's stream, and `fifo`, the
loop's own ready work, which wins when every outside event is held back). Each actor
gets a random priority when first seen and the highest-priority option runs. The
paper's steps are this loop's *decisions*; at a change point the winner drops below
every initial priority, so some other actor overtakes it there.

The paper draws change points uniformly among the run's k steps. Here k is learned
from an earlier run of the same scenario (`CampaignSpec.calibrated`), but the decision
count of a run varies with its schedule far more than a thread program's step count:
the stock order of a scenario may make one decision (everything released at once) and
a schedule that holds an event back ten (each hold is a decision). So each schedule
spreads its change points over a span drawn log-uniformly between 1 and
max(2k, 16): short spans put them where short runs decide, long ones reach the end of
long runs. (Spread over a fixed 32, as before, most change points landed after short
runs had ended, and a schedule without change points is only a priority order, of
which a run with n actors has at most n!: a scenario whose whole space is 8 schedules
got the same 2 or 3 of them again and again.)

Each schedule draws how many change points it uses, uniformly from 0 to d-1, rather
than always d-1: a bug of depth d' <= d is then found with probability at least
1/(d n k^(d'-1)) per schedule. With always d-1 points, shallow bugs that need one
actor to keep its lead for many decisions (a long window) were almost never found,
because a change point nearly always landed inside the window.

Schedule 1 chooses uniformly at random: its decision count is the k of later
schedules. A random run is a typical one; the stock order often makes a single
decision, and a PCT schedule that holds an event back makes many.

An actor that wins `streak_limit` decisions in a row while others wait is demoted to
the bottom (a re-queuing socket, a busy FIFO), so no event is delayed forever.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from simharness.engine.strategies.base import Option
from simharness.engine.strategies.simple import derive_seed

#: The decision count assumed before any run of the scenario has been observed.
DEFAULT_LENGTH = 32

#: The longest span of change points is at least this many decisions (see the module doc).
MIN_SPAN = 16


class PCTStrategy:
    """Priority-based scheduling with depth `depth` over `length` decisions, seeded per schedule."""

    name = "pct"

    def __init__(self, seed: int, depth: int = 3, streak_limit: int = 8, initial_length: int = DEFAULT_LENGTH) -> None:
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        if initial_length < 1:
            raise ValueError("PCT length must be at least 1")
        self.seed = seed
        self.depth = depth
        self.streak_limit = streak_limit
        self._expected_length = initial_length
        self._observed = 0
        self._calibrating = False
        self._rng = random.Random(seed)
        self._priority: dict[str, float] = {}
        self._change_points: dict[int, int] = {}
        self._decision = 0
        self._floor = 0.0
        self._streak_key = ""
        self._streak = 0

    @property
    def expected_length(self) -> int:
        """k: the decision count of a typical run, as observed."""
        return self._expected_length

    def begin_run(self, run_index: int) -> bool:
        self._calibrating = run_index == 1
        rng = random.Random(derive_seed(self.seed, run_index))
        self._rng = rng
        self._priority = {}
        span = max(1, round(math.exp(rng.uniform(0.0, math.log(max(2 * self._expected_length, MIN_SPAN))))))
        count = min(rng.randrange(self.depth), span)
        points = sorted(rng.sample(range(1, span + 1), count))
        # The j-th change point lowers the winner to (d - j) / (d + 1): below every
        # initial priority (all > 1), later change points lower still.
        self._change_points = {p: j for j, p in enumerate(points, start=1)}
        self._decision = 0
        self._floor = 0.0
        self._streak_key, self._streak = "", 0
        return True

    def _best(self, options: Sequence[Option]) -> int:
        priority = self._priority
        best, best_value = 0, float("-inf")
        for index, option in enumerate(options):
            value = priority[option.key]
            if value > best_value:
                best, best_value = index, value
        return best

    def choose(self, options: Sequence[Option]) -> int:
        self._decision += 1
        if self._calibrating:
            return self._rng.randrange(len(options))
        priority = self._priority
        for option in options:
            if option.key not in priority:
                priority[option.key] = 1.0 + self._rng.random()
        chosen = self._best(options)
        change = self._change_points.get(self._decision)
        if change is not None:
            priority[options[chosen].key] = (self.depth - change) / (self.depth + 1)
            chosen = self._best(options)
        key = options[chosen].key
        self._streak = self._streak + 1 if key == self._streak_key else 1
        self._streak_key = key
        if self._streak >= self.streak_limit:
            self._floor -= 1.0
            priority[key] = self._floor  # demote an actor that keeps winning
            self._streak = 0
        return chosen

    def end_run(self) -> None:
        # A sequential exploration learns the length as it goes (the longest run seen,
        # replacing the initial guess); an indexed campaign fixes it from schedule 1
        # instead (explore/schedules.py), so that schedule i never depends on i-1.
        if self._decision:
            self._observed = max(self._observed, self._decision)
            self._expected_length = self._observed
