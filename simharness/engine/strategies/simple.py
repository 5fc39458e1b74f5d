"""The small strategies: native FIFO order, seeded uniform random, and replays."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from simharness.errors import ScheduleDivergence
from simharness.engine.schedule import Decision, Schedule, fingerprint, tail_crc
from simharness.engine.strategies.base import Option


def derive_seed(seed: int, run_index: int) -> int:
    """The seed of schedule `run_index` of an exploration seeded with `seed`.

    Derived, not drawn in sequence, so schedule i is the same whatever ran before it.
    """
    digest = hashlib.blake2b(f"simharness:{seed}:{run_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class FifoStrategy:
    """Always the default option: exactly native asyncio's order. One schedule."""

    name = "fifo"

    def begin_run(self, run_index: int) -> bool:
        return run_index == 1

    def choose(self, options: Sequence[Option]) -> int:
        return 0

    def end_run(self) -> None:
        return None


class RandomStrategy:
    """Uniform choice at every decision, seeded per schedule from (seed, run index)."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def begin_run(self, run_index: int) -> bool:
        self._rng = random.Random(derive_seed(self.seed, run_index))
        return True

    def choose(self, options: Sequence[Option]) -> int:
        return self._rng.randrange(len(options))

    def end_run(self) -> None:
        return None


class ReplayStrategy:
    """Follows a recorded schedule exactly and stops at the first decision that differs."""

    name = "replay"

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._position = 0
        self._tail_crc = 0

    def begin_run(self, run_index: int) -> bool:
        self._position = 0
        self._tail_crc = 0
        return run_index == 1

    def choose(self, options: Sequence[Option]) -> int:
        decisions = self.schedule.decisions
        step = self._position + 1
        if self._position >= self.schedule.length:
            raise ScheduleDivergence(step, f"the run reached a decision among {len(options)} options "
                                     f"but the schedule ends after {self.schedule.length} decisions")
        self._position += 1
        keys = fingerprint(o.key for o in options)
        if step > len(decisions):  # the default-only tail: checked as a whole at the end
            self._tail_crc = tail_crc((Decision(0, len(options), keys),), self._tail_crc)
            return 0
        decision = decisions[step - 1]
        if decision.options != len(options):
            raise ScheduleDivergence(step, f"the schedule expects {decision.options} options, the run "
                                     f"offers {len(options)} ({', '.join(o.key for o in options)})")
        if decision.fingerprint != keys:
            raise ScheduleDivergence(step, "the options offered are not the recorded ones "
                                     f"({', '.join(o.key for o in options)})")
        return decision.index

    def end_run(self) -> None:
        schedule = self.schedule
        if self._position < schedule.length:
            raise ScheduleDivergence(self._position + 1, f"the run ended after {self._position} "
                                     f"of the schedule's {schedule.length} decisions")
        if schedule.tail and self._tail_crc & 0xFFFF != schedule.tail_digest:
            first = len(schedule.decisions) + 1
            raise ScheduleDivergence(first, f"the run departed from the schedule within its last "
                                     f"{schedule.tail} default decisions ({first}-{schedule.length}): "
                                     "the options offered there were not the recorded ones")


class LenientReplayStrategy:
    """Follows a recorded schedule while it still applies, and takes the default where not.

    For replaying on changed code (the fixed variant, the test after an edit), as
    Hypothesis replays a stored example: a decision is followed when the run offers the
    same number of options with the same identities as the recording; otherwise the
    default is taken. It counts how much of the recording it could follow.
    """

    name = "lenient-replay"

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.decisions_made = 0
        self.followed = 0                # recorded decisions (in full) that applied and were followed
        self.departures_followed = 0     # of those, the ones that left the default order

    def begin_run(self, run_index: int) -> bool:
        self.decisions_made = self.followed = self.departures_followed = 0
        return run_index == 1

    def choose(self, options: Sequence[Option]) -> int:
        position = self.decisions_made
        self.decisions_made += 1
        decisions = self.schedule.decisions
        if position >= len(decisions):
            return 0  # past the recorded departures: the default, as recorded
        decision = decisions[position]
        if decision.options != len(options) or decision.fingerprint != fingerprint(o.key for o in options):
            return 0
        self.followed += 1
        if decision.index:
            self.departures_followed += 1
        return decision.index

    def end_run(self) -> None:
        return None


class GuidedStrategy:
    """Follows a list of indices leniently: out-of-range or missing choices become 0.

    Used by the shrinker and by Hypothesis, whose candidate choice lists need not
    match a run exactly; the run then records the schedule it really followed.
    """

    name = "guided"

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = tuple(indices)
        self._position = 0

    def begin_run(self, run_index: int) -> bool:
        self._position = 0
        return run_index == 1

    def choose(self, options: Sequence[Option]) -> int:
        position = self._position
        self._position += 1
        if position < len(self.indices) and self.indices[position] < len(options):
            return self.indices[position]
        return 0

    def end_run(self) -> None:
        return None
