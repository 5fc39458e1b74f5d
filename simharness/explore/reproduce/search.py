"""The target-directed search: schedules run until one fails the way the recorded failure did.

Each run is scored against the target: a failure that matches ends the search; every
other run scores by how close its failure came (`match.compare`) and by how many of
the target's user frames (`file.py:LINE`) its trace reached as await points, since a
traceback's outer frames are the awaits that led to the failing line. Schedule 1 is
the default order (the stock run); after it, each schedule is either a fresh one of
the base strategy (`portfolio`, `pct` or `random`, schedule i from `(seed, i)`) or, half of the
time once there is a corpus, a mutation of one of the best-scoring runs so far: one
of its decisions changed, the others kept (or, one time in three, the rest chosen at
random). All choices come from `(seed, i)`, so the same command searches the same
schedules in the same order.

A match is shrunk with the explorer's shrinker, keeping only candidates that still
match the target. Non-matching failures are kept apart ("other failures"), never
mistaken for the target.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from simharness.engine.strategies import FifoStrategy, make_strategy
from simharness.engine.strategies.base import Option, Strategy
from simharness.engine.strategies.simple import derive_seed
from simharness.errors import ConfigError
from simharness.explore.reproduce.match import Comparison, compare, frame_spots
from simharness.explore.reproduce.target import FailureTarget
from simharness.explore.shrink import symptom
from simharness.outcome import RunResult

#: Largest `--runs` reproduce accepts.
MAX_RUNS = 1_000_000
BASE_STRATEGIES = ("portfolio", "pct", "random")
#: Best-scoring runs kept for mutation, and how many closest failures are reported.
CORPUS_SIZE = 8
CLOSEST_REPORTED = 3


class Runs(Protocol):
    """What runs one schedule: `engine.execution.Execution` or the pytest plugin's item execution."""

    def run(self, strategy: Strategy, *, detail: bool = False) -> RunResult: ...


@dataclass(frozen=True)
class SearchOptions:
    """The user's budget and seed (validated)."""

    runs: int = 500
    seed: int = 0
    strategy: str = "portfolio"  # as explore: random, swarm and PCT in turn
    depth: int = 3
    shrink: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.runs <= MAX_RUNS:
            raise ConfigError(f"--runs must be from 1 to {MAX_RUNS:,}, got {self.runs}")
        if self.strategy not in BASE_STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(BASE_STRATEGIES)} for reproduce, "
                              f"got {self.strategy!r}")
        if not 1 <= self.depth <= 1000:
            raise ConfigError(f"--depth must be from 1 to 1000, got {self.depth}")


@dataclass(frozen=True)
class Candidate:
    """A failure met on the way that is not the target: its schedule, and how it differs."""

    kind: str
    message: str
    schedule: str
    run_index: int
    count: int
    comparison: Comparison


@dataclass(frozen=True)
class Reproduction:
    """What the search found for one target."""

    reproduced: bool
    runs: int                              # schedules run (shrinking not counted)
    result: RunResult | None = None        # the (shrunk) matching run
    original_schedule: str = ""            # as found, before shrinking
    run_index: int = 0                     # 1-based index of the matching schedule
    shrink_replays: int = 0
    closest: tuple[Candidate, ...] = ()    # not reproduced: the nearest failures, best first
    others: tuple[Candidate, ...] = ()     # every distinct other failure, by first run
    stopped: bool = False                  # `stop` ended the search before the budget was spent


class _Mutant:
    """Follows a parent run's decisions, with one of them changed (a strategy)."""

    name = "reproduce-mutant"

    def __init__(self, parent: Sequence[int], rng: random.Random) -> None:
        self.parent = tuple(parent)
        self.rng = rng
        self.flip = rng.randrange(max(1, len(self.parent)))
        self.wander = rng.random() < 1 / 3  # after the change: random choices instead of the parent's
        self._position = 0

    def begin_run(self, run_index: int) -> bool:
        self._position = 0
        return True

    def choose(self, options: Sequence[Option]) -> int:
        position = self._position
        self._position += 1
        kept = self.parent[position] if position < len(self.parent) else 0
        if position == self.flip:
            others = [i for i in range(len(options)) if i != kept]
            return self.rng.choice(others) if others else 0
        if position > self.flip and self.wander:
            return self.rng.randrange(len(options))
        return kept if kept < len(options) else 0

    def end_run(self) -> None:
        return None


class _TargetOnly:
    """The execution as the shrinker sees it: a failure other than the target counts as a pass."""

    def __init__(self, execution: Runs, target: FailureTarget) -> None:
        self.execution, self.target = execution, target
        for name in ("settings", "scenario", "variant", "scenario_name"):
            if hasattr(execution, name):
                setattr(self, name, getattr(execution, name))

    def run(self, strategy: Strategy, *, detail: bool = False) -> RunResult:
        result = self.execution.run(strategy, detail=detail)
        if result.failure is not None and not compare(self.target, result.failure).matched:
            return replace(result, failure=None)
        return result


def _coverage(result: RunResult, spots: frozenset[str]) -> float:
    if not spots:
        return 0.0
    reached = {step.label.split(" ", 1)[0] for step in result.trace}
    return len(spots & reached) / len(spots)


def reproduce(execution: Runs, target: FailureTarget, options: SearchOptions | None = None, *,
              progress: Callable[[int, int], None] | None = None,
              stop: Callable[[], bool] | None = None) -> Reproduction:
    """Search up to `options.runs` schedules for a failure matching `target` (see the module doc).

    `stop` is asked before each schedule (a wall-time limit); True ends the search there.
    """
    options = options or SearchOptions()
    base = make_strategy(options.strategy, seed=options.seed, depth=options.depth)
    spots = frame_spots(target)
    corpus: list[tuple[float, int, tuple[int, ...]]] = []
    others: dict[tuple[str, str], Candidate] = {}
    ran = 0
    for index in range(1, options.runs + 1):
        if stop is not None and stop():
            break
        ran = index
        rng = random.Random(derive_seed(options.seed ^ 0x5EED, index))
        strategy: Strategy
        if index == 1:
            strategy = FifoStrategy()
        elif corpus and rng.random() < 0.5:
            strategy = _Mutant(corpus[rng.randrange(len(corpus))][2], rng)
        else:
            strategy = base
        strategy.begin_run(index)
        result = execution.run(strategy, detail=bool(spots))
        strategy.end_run()
        if progress is not None:
            progress(index, options.runs)
        comparison = compare(target, result.failure) if result.failure is not None else None
        if comparison is not None and comparison.matched:
            return _found(execution, target, result, index, options, _by_first(others))
        score = _coverage(result, spots) + (comparison.closeness if comparison is not None else 0.0)
        if result.schedule.length:
            corpus.append((-score, index, result.schedule.indices))
            corpus.sort()
            del corpus[CORPUS_SIZE:]
        if result.failure is not None and comparison is not None:
            key = symptom(result.failure)
            known = others.get(key)
            others[key] = (replace(known, count=known.count + 1) if known is not None else
                           Candidate(result.failure.kind, result.failure.message, result.schedule.encode(),
                                     index, 1, comparison))
    listed = _by_first(others)
    closest = tuple(sorted(listed, key=lambda c: (-c.comparison.closeness, c.run_index))[:CLOSEST_REPORTED])
    return Reproduction(False, ran, closest=closest, others=listed, stopped=ran < options.runs)


def _by_first(others: dict[tuple[str, str], Candidate]) -> tuple[Candidate, ...]:
    return tuple(sorted(others.values(), key=lambda c: c.run_index))


def _found(execution: Runs, target: FailureTarget, result: RunResult, index: int,
           options: SearchOptions, others: tuple[Candidate, ...]) -> Reproduction:
    final, replays = result, 0
    if options.shrink and result.failure is not None and result.failure.kind != "blocked-loop":
        from simharness.explore.shrink import shrink_failure
        final, replays = shrink_failure(_TargetOnly(execution, target), result)  # type: ignore[arg-type]
    return Reproduction(True, index, result=final, original_schedule=result.schedule.encode(),
                        run_index=index, shrink_replays=replays, others=others)
