"""What runs and explorations return: plain frozen dataclasses, no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # a foundation module: the engine imports it, so no runtime import back
    from simharness.engine.schedule import Schedule

FailureKind = Literal[
    "assertion", "exception", "task-exception", "invariant",
    "deadlock", "timeout", "blocked-loop", "leak",
    "crash",  # a worker process died running the schedule (explore --workers/--cluster only)
]

#: Every failure kind of the contract, in the order the contract lists them.
FAILURE_KINDS: tuple[str, ...] = (
    "assertion", "exception", "task-exception", "invariant",
    "deadlock", "timeout", "blocked-loop", "leak",
)


@dataclass(frozen=True)
class Frame:
    """One frame of a failure's traceback: the file as the traceback names it, line, function."""

    file: str
    line: int
    function: str = ""     # "" when the source of the traceback does not say (pytest --tb=long)


@dataclass(frozen=True)
class Failure:
    """Why a run failed: exactly one kind, and a one-paragraph message."""

    kind: FailureKind
    message: str
    # True when the run let any ready callback go next (--preemptive): such a failure
    # needs every await to be slow, which the real runtime may never do.
    preemptive: bool = False
    # The raised exception's traceback, outermost first (empty for kinds without one:
    # deadlock, timeout, leak...). `reproduce` compares its innermost user frames.
    frames: tuple[Frame, ...] = ()


@dataclass(frozen=True)
class TraceStep:
    """One scheduling step of a detailed trace (recorded on replay, not while exploring)."""

    index: int
    actor: str      # task name, or the external actor ("thread-2", "conn-1", "timer")
    lane: str       # lane for pictures: the task, or the external actor's kind and name
    kind: str       # "task", "callback", "timer", "io", "thread", "process", "checkpoint"
    label: str      # the await point the step resumed from: "file.py:12 await Lock.acquire()"
    time: float     # virtual seconds
    decision: int | None = None  # 1-based decision index that released this step, if any
    deviation: bool = False      # that decision departed from the default order
    access: str = ""             # shared-object access recorded on replay ("write token_store.tokens")


@dataclass(frozen=True)
class Access:
    """A read or write of a shared object's member, recorded on replay (`engine/accesses.py`).

    Only members that two actors touched and one of them wrote are kept.
    """

    step: int       # the step that made it
    actor: str      # who ran that step (a task name, "conn-1"...)
    write: bool
    obj: int        # which object, numbered by first access within the run
    owner: str      # the object as the code named it: "MCPProvider.metrics", "store.tokens"
    member: str     # ".requests_made", "['user-1']", or "" for the container as a whole
    where: str      # "bank.py:31"
    how: str = ""   # for the whole container: the method ("clear()") or "in"

    @property
    def name(self) -> str:
        """What was accessed, as people read it: "MCPProvider.metrics.requests_made"."""
        return self.owner + self.member


@dataclass(frozen=True)
class DecisionRecord:
    """A decision of a detailed trace: the options offered and the one taken."""

    index: int           # 1-based
    step: int            # step index at which it was taken
    time: float
    options: tuple[str, ...]
    chosen: int


@dataclass(frozen=True)
class RunResult:
    """The outcome of running one scenario variant under one schedule."""

    scenario: str
    variant: str
    failure: Failure | None
    schedule: Schedule
    trace_hash: str
    steps: int
    virtual_time: float
    trace: tuple[TraceStep, ...] = ()
    decision_log: tuple[DecisionRecord, ...] = ()
    #: Shared-object accesses, when the run recorded them (`accesses=True`); None: not recorded.
    accesses: tuple[Access, ...] | None = None

    @property
    def failed(self) -> bool:
        return self.failure is not None


@dataclass(frozen=True)
class FoundFailure:
    """The first failure an exploration found, shrunk unless shrinking was turned off."""

    kind: FailureKind
    message: str
    schedule: str            # the (shrunk) schedule to replay
    trace_hash: str          # trace hash of `schedule`
    run_index: int           # 1-based index of the exploration run that failed
    steps: int
    original_schedule: str   # the schedule as first found, before shrinking
    preemptive: bool = False
    shrink_replays: int = 0  # runs the shrinker used


@dataclass(frozen=True)
class OutcomeRow:
    """One distinct outcome of a campaign (JCStress style): how often it came, and where first.

    Outcomes are told apart by `outcome` ("pass", "fail", "crash"), failure `kind` and
    `fingerprint` (a hash of the message with its numbers masked, "" for a pass).
    """

    outcome: str
    kind: str
    fingerprint: str
    count: int
    first_run: int           # lowest run index that gave this outcome
    first_schedule: str      # that run's schedule (a crash: the decisions made before the process died)
    first_message: str
    first_trace_hash: str


@dataclass(frozen=True)
class CampaignInfo:
    """What identifies a campaign's schedule space, so shard results can be merged and checked."""

    planned: int             # --runs
    depth: int
    preemptive: bool
    shard: int = 1           # this shard runs indices shard, shard + shards, ...
    shards: int = 1
    count_all: bool = False  # --count-outcomes: every schedule ran, failures did not stop the campaign
    source_sha256: str = ""  # the scenario file's content hash


@dataclass(frozen=True)
class Exploration:
    """The result of exploring one variant of one scenario."""

    scenario: str
    variant: str
    strategy: str
    seed: int
    runs: int                 # schedules actually run
    failed: bool
    elapsed_s: float
    failure: FoundFailure | None = None
    exhausted: bool = False   # dfs only: the whole (bounded) space was covered
    reduced: bool = False     # dfs only: states already explored from were pruned (engine/strategies/dfs.py)
    stored_replays: int = 0   # failures from the failure store replayed first
    notes: tuple[str, ...] = field(default_factory=tuple)
    outcomes: tuple[OutcomeRow, ...] = ()  # every distinct outcome of the runs counted, by first run
    campaign: CampaignInfo | None = None   # set when schedules were run by index (random, pct)
    interrupted: bool = False              # Ctrl-C: only the runs that finished are counted


@dataclass(frozen=True)
class LenientReplay:
    """A schedule replayed on code that may have changed (another variant, an edit).

    `result` is the run; `followed` of the `recorded` decisions kept in the schedule
    applied and were followed (`departures_followed` of its `departures` from the
    default order); the rest took the default.
    """

    result: RunResult
    recorded: int
    followed: int
    departures: int
    departures_followed: int
    recorded_variant: str | None   # the variant the schedule was recorded for, if known

    @property
    def exact(self) -> bool:
        """Every recorded decision applied: the run is the recorded one."""
        return self.followed == self.recorded

    def describe(self) -> str:
        how = (f"followed all {self.recorded} recorded decision(s)" if self.exact else
               f"followed {self.followed} of {self.recorded} recorded decision(s), "
               f"{self.departures_followed} of {self.departures} departure(s) from the default order")
        verdict = "fails" if self.result.failed else "passes"
        return f"{verdict} under the schedule ({how})"
