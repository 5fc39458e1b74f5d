"""Campaigns: many schedules of one variant, run by an executor, read by the lowest-index rule.

An executor runs schedules by index and hands back compact outcomes in any order;
the campaign alone decides what they mean, so the answer never depends on how many
processes ran them, in what order they finished, or how the indices were sharded:

* stop at first: the reported failure is the failing (or crashing) schedule with the
  lowest run index; runs above it are dropped even if a worker already ran them;
* count outcomes: every schedule runs; the outcome table counts each distinct
  outcome and names its lowest run index.

Executors: `InProcessExecutor` (here), `workers.ProcessPool`, `cluster.DaskExecutor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from simharness.engine.execution import Execution
from simharness.errors import ConfigError
from simharness.explore.schedules import (
    CALIBRATED_STRATEGIES, CampaignSpec, ScheduleOutcome, ScheduleRunner, outcome_of,
)
from simharness.outcome import OutcomeRow
from simharness.scenario import Scenario

#: Receives each outcome as soon as a schedule is done.
Sink = Callable[[ScheduleOutcome], None]
#: Called with (runs done, runs planned).
Progress = Callable[[int, int], None]

#: Most shards a campaign may be split into.
MAX_SHARDS = 10_000


class Executor(Protocol):
    """Runs schedules of a spec by index.

    Must run every index of `indices`, except that with `stop_at_first` it may skip
    indices above the lowest failing one it has seen (never one below it).
    """

    def run(self, spec: CampaignSpec, indices: Sequence[int], *, stop_at_first: bool, sink: Sink) -> None:
        ...

    def close(self) -> None:
        """Stop whatever the executor started (idempotent)."""
        ...


class InProcessExecutor:
    """Runs the schedules one after another in this process (the default, `--workers 1`)."""

    def __init__(self, scenario: Scenario | None = None, execution: Execution | None = None) -> None:
        self._runner = ScheduleRunner(scenario, execution)

    def run(self, spec: CampaignSpec, indices: Sequence[int], *, stop_at_first: bool, sink: Sink) -> None:
        for index in indices:
            outcome = outcome_of(index, self._runner.run(spec, index))
            sink(outcome)
            if stop_at_first and outcome.failed:
                return

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Shard:
    """Shard K of N: run indices K, K+N, K+2N, ... of the schedule space."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ConfigError(f"--shard K/N: N must be between 1 and {MAX_SHARDS}, got {self.count}")
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"--shard K/N: K must be between 1 and N ({self.count}), got {self.index}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse "K/N" (one-line `ConfigError` otherwise)."""
        head, slash, tail = text.strip().partition("/")
        if not slash or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ConfigError(f"--shard must look like K/N (e.g. 1/4), got {text!r}")
        return cls(int(head), int(tail))

    def indices(self, runs: int) -> range:
        return range(self.index, runs + 1, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class Tally:
    """Counts outcomes by key, keeping the lowest-index outcome of each."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], list[object]] = {}
        self.total = 0

    def add(self, outcome: ScheduleOutcome, count: int = 1) -> None:
        self.total += count
        row = self._rows.get(outcome.key)
        if row is None:
            self._rows[outcome.key] = [count, outcome]
            return
        row[0] = int(row[0]) + count  # type: ignore[call-overload]
        first = row[1]
        assert isinstance(first, ScheduleOutcome)
        if outcome.index < first.index:
            row[1] = outcome

    def rows(self) -> tuple[OutcomeRow, ...]:
        """The table, rows in order of first occurrence."""
        built = []
        for (status, kind, fingerprint), (count, first) in self._rows.items():
            assert isinstance(first, ScheduleOutcome) and isinstance(count, int)
            built.append(OutcomeRow(status, kind, fingerprint, count, first.index, first.schedule,
                                    first.message, first.trace_hash))
        return tuple(sorted(built, key=lambda r: r.first_run))


@dataclass(frozen=True)
class CampaignRun:
    """What a campaign established: runs counted, the outcome table, the lowest failure."""

    runs: int
    outcomes: tuple[OutcomeRow, ...]
    first_failure: ScheduleOutcome | None
    spec: CampaignSpec            # calibrated
    interrupted: bool = False


def run_campaign(spec: CampaignSpec, executor: Executor, *, runs: int, shard: Shard | None = None,
                 stop_at_first: bool = True, progress: Progress | None = None) -> CampaignRun:
    """Run this shard's schedules of `spec` (1..runs) on `executor`; see the module doc.

    Ctrl-C stops the executor's work; what finished is kept and `interrupted` is set.
    The caller closes the executor (it may serve several campaigns).
    """
    shard = shard or Shard()
    if runs < 1:
        raise ConfigError(f"--runs must be at least 1, got {runs}")
    if shard.count > runs:
        raise ConfigError(f"--shard {shard}: more shards than runs ({runs}); use at most {runs} shards")
    mine = shard.indices(runs)
    seen: list[ScheduleOutcome] = []
    tally = Tally()
    lowest: list[ScheduleOutcome] = []

    def sink(outcome: ScheduleOutcome) -> None:
        if outcome.index not in mine:  # schedule 1 run to calibrate another shard's PCT
            return
        if outcome.failed and (not lowest or outcome.index < lowest[0].index):
            lowest[:] = [outcome]
        if stop_at_first:
            seen.append(outcome)
        else:
            tally.add(outcome)
        if progress is not None:
            progress(len(seen) if stop_at_first else tally.total, len(mine))

    interrupted = False
    try:
        if spec.strategy in CALIBRATED_STRATEGIES:
            first: list[ScheduleOutcome] = []

            def calibrate(outcome: ScheduleOutcome) -> None:
                first.append(outcome)
                sink(outcome)

            executor.run(spec, [1], stop_at_first=False, sink=calibrate)
            spec = spec.calibrated(first[0] if first[0].outcome != "crash" else
                                   ScheduleOutcome(1, "crash"))
        todo = [i for i in mine if not (i == 1 and spec.strategy in CALIBRATED_STRATEGIES)]
        if todo and not (stop_at_first and lowest):
            executor.run(spec, todo, stop_at_first=stop_at_first, sink=sink)
    except KeyboardInterrupt:
        interrupted = True
    failure = lowest[0] if lowest else None
    if stop_at_first:
        cut = failure.index if failure is not None else runs
        for outcome in seen:
            if outcome.index <= cut:
                tally.add(outcome)
    return CampaignRun(tally.total, tally.rows(), failure, spec, interrupted)
