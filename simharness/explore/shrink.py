"""Shrinking a failing schedule toward fewer, earlier departures from the default order.

A candidate is a tuple of choice indices replayed leniently (`GuidedStrategy`: a
choice that no longer fits becomes 0, missing ones are 0), and the run records the
schedule it really followed. A candidate is kept when its run fails *the same way*
(same kind and same symptom: the message's first clause, see `symptom`) and that
recorded schedule is smaller in the order

    (number of non-default choices, number of decisions, indices shortlex).

Passes are deterministic and every accepted candidate is strictly smaller in a
well-founded order, so shrinking always ends; `max_replays` also caps the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from simharness.engine.execution import Execution, RunSettings
from simharness.outcome import Failure, RunResult
from simharness.scenario import Scenario
from simharness.engine.strategies import GuidedStrategy

Indices = tuple[int, ...]
Size = tuple[int, int, Indices]

#: Default cap on the replays one shrink may use (each replay is one run).
MAX_REPLAYS = 2000
#: Largest `max_replays` the `shrink` command accepts.
MAX_REPLAYS_LIMIT = 1_000_000


def symptom(failure: Failure) -> tuple[str, str]:
    """What makes two failures "the same": the kind and the message's first clause.

    The first clause is the text up to the second colon ("AssertionError: 5.1 wait
    timed out"), or up to the source location. Without it the shrinker may trade the
    failure it found for another symptom of the same kind that needs fewer departures
    (a scenario with three documented outcomes would always shrink to the easiest).
    """
    message = failure.message.split(" (at ", 1)[0]
    parts = message.split(":", 2)
    head = ":".join(parts[:2]) if len(parts) > 2 else message
    return (failure.kind, head.strip()[:120])


def size_of(indices: Indices) -> Size:
    """The order shrinking minimises: deviations first, then length, then shortlex.

    Trailing default choices do not count: a lenient replay adds them by itself.
    """
    indices = trimmed(indices)
    return (sum(1 for i in indices if i), len(indices), indices)


def trimmed(indices: Indices) -> Indices:
    """`indices` without trailing zeros (a lenient replay treats missing choices as 0)."""
    end = len(indices)
    while end and indices[end - 1] == 0:
        end -= 1
    return indices[:end]


@dataclass(frozen=True)
class ShrinkOutcome:
    """What shrinking produced: the smallest failing run and the replays it cost."""

    result: RunResult
    replays: int


class _Shrinker:
    """Holds the best failing run so far and tries candidates against it."""

    def __init__(self, execution: Execution, found: RunResult, max_replays: int) -> None:
        assert found.failure is not None
        self.execution = execution
        self.symptom = symptom(found.failure)
        self.best = found
        self.max_replays = max_replays
        self.replays = 0
        self._seen: set[Indices] = set()

    @property
    def current(self) -> Indices:
        return trimmed(self.best.schedule.indices)

    @property
    def spent(self) -> bool:
        return self.replays >= self.max_replays

    def attempt(self, candidate: Indices) -> bool:
        """Run `candidate`; keep it (and return True) if it fails the same way and is smaller."""
        candidate = trimmed(candidate)
        if candidate in self._seen or self.spent or size_of(candidate) >= size_of(self.current):
            return False
        self._seen.add(candidate)
        strategy = GuidedStrategy(candidate)
        strategy.begin_run(1)
        self.replays += 1
        result = self.execution.run(strategy)
        strategy.end_run()
        if result.failure is None or symptom(result.failure) != self.symptom:
            return False
        if size_of(result.schedule.indices) >= size_of(self.best.schedule.indices):
            return False
        self.best = result
        return True


def _deviations(indices: Indices) -> list[int]:
    return [position for position, index in enumerate(indices) if index]


def _truncations(current: Indices) -> Iterator[Indices]:
    # Everything after a deviation back to default: removes whole tails at once.
    for position in _deviations(current):
        yield current[:position]


def _zero_singles(current: Indices) -> Iterator[Indices]:
    for position in _deviations(current):
        yield current[:position] + (0,) + current[position + 1:]


def _zero_pairs(current: Indices) -> Iterator[Indices]:
    # Two deviations that only fail together (or only pass together) need one step.
    spots = _deviations(current)
    for first, second in zip(spots, spots[1:]):
        out = list(current)
        out[first] = out[second] = 0
        yield tuple(out)


def _deletions(current: Indices) -> Iterator[Indices]:
    # Dropping a decision shifts later choices one decision earlier: when a deviation
    # removed one decision point, the rest of the schedule still lines up.
    for position in range(len(current)):
        yield current[:position] + current[position + 1:]


def _lowerings(current: Indices) -> Iterator[Indices]:
    for position in _deviations(current):
        for lower in range(1, current[position]):
            yield current[:position] + (lower,) + current[position + 1:]


def _moves_earlier(current: Indices) -> Iterator[Indices]:
    for position in range(1, len(current)):
        if current[position] and not current[position - 1]:
            yield current[:position - 1] + (current[position], 0) + current[position + 1:]


#: Passes from the most to the least effective; each yields candidates built from the
#: current best. After any success the passes start again from the first.
PASSES: tuple[Callable[[Indices], Iterator[Indices]], ...] = (
    _truncations, _zero_singles, _zero_pairs, _deletions, _lowerings, _moves_earlier,
)


def shrink(execution: Execution, found: RunResult, max_replays: int = MAX_REPLAYS) -> ShrinkOutcome:
    """Shrink the failing run `found` to the smallest failing run the passes reach."""
    shrinker = _Shrinker(execution, found, max_replays)
    improved = True
    while improved and not shrinker.spent:
        improved = False
        for make_candidates in PASSES:
            # Candidates come from the best at the start of the pass; after a success
            # the pass is restarted on the new best, so no stale candidate is tried.
            for candidate in make_candidates(shrinker.current):
                if shrinker.attempt(candidate):
                    improved = True
                    break
            if improved or shrinker.spent:
                break
    return ShrinkOutcome(shrinker.best, shrinker.replays)


def shrink_failure(execution: Execution, found: RunResult, max_replays: int = MAX_REPLAYS) -> tuple[RunResult, int]:
    """Return the smallest failing run found from `found`, and how many replays it took."""
    outcome = shrink(execution, found, max_replays)
    return outcome.result, outcome.replays


@dataclass(frozen=True)
class ShrunkSchedule:
    """`shrink_schedule`'s answer: the failing schedule given and the smallest one reached."""

    scenario: str
    variant: str
    original: str
    original_decisions: int
    original_departures: int
    result: RunResult          # the run of the shrunk schedule (fails like the original)
    replays: int

    @property
    def schedule(self) -> str:
        return self.result.schedule.encode()


def shrink_schedule(scenario: Scenario, variant: str, schedule: str, settings: RunSettings | None = None,
                    max_replays: int = MAX_REPLAYS) -> ShrunkSchedule:
    """Shrink a failing schedule found earlier (`explore --no-shrink`, the pytest plugin).

    Raises `ScheduleDecodeError` for a schedule that does not decode or belongs to
    another scenario or variant, `ScheduleDivergence` if the run departs from it, and
    `ConfigError` if it does not fail (there is nothing to shrink).
    """
    from simharness.engine.execution import RunEnvironment
    from simharness.engine.schedule import Schedule
    from simharness.engine.strategies import ReplayStrategy
    from simharness.errors import ConfigError

    if not 1 <= max_replays <= MAX_REPLAYS_LIMIT:
        raise ConfigError(f"--max-replays must be from 1 to {MAX_REPLAYS_LIMIT}, got {max_replays}")
    decoded = Schedule.decode(schedule)
    scenario.check_variant(variant)
    backends = tuple(scenario.options.get("backends", ("sim", "real")))
    if "sim" not in backends:
        from simharness.errors import TargetError
        raise TargetError(f"scenario {scenario.name!r} only runs on the real backend: nothing to shrink")
    decoded.check_scope(scenario.name, variant)
    base = settings or RunSettings()
    if decoded.preemptive != base.preemptive:
        base = RunSettings(**{**base.__dict__, "preemptive": decoded.preemptive})
    with RunEnvironment(base) as environment:
        execution = Execution(scenario, variant, environment)
        strategy = ReplayStrategy(decoded)
        strategy.begin_run(1)
        found = execution.run(strategy)
        strategy.end_run()
        if found.failure is None:
            raise ConfigError(f"the schedule passes when replayed: nothing to shrink "
                              f"({scenario.name} --variant {variant})")
        outcome = shrink(execution, found, max_replays)
    return ShrunkSchedule(scenario.name, variant, decoded.encode(), decoded.length, decoded.deviations,
                          outcome.result, outcome.replays)
