"""The messages between the stress supervisor and a real-backend worker process.

Jobs travel supervisor -> worker and results worker -> supervisor as JSON lines on two
private pipes (never the worker's stdout, which scenario code may write to). Each
dataclass here has a `to_message` / `from_message` pair so both ends agree on one form.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    """One real run to do: its 1-based index, its noise seed and its own directory."""

    index: int
    seed: int
    directory: str


@dataclass(frozen=True)
class RealJob:
    """Runs of one variant at one concurrency level, done one after another by a worker."""

    job_id: int
    source_file: str
    scenario: str
    variant: str
    concurrency: int
    noise: float
    loop: str                 # "asyncio" or "uvloop"
    soft_timeout_s: float     # the worker cancels a run that is still pending after this
    blocked_loop_s: float     # the loop may not stand still in a synchronous wait longer
    runs: tuple[RunSpec, ...]
    # Runs under a found failure's timing (`real/timed.py`): the buggy variant whose
    # failure gives the checkpoint durations, the schedules to explore for it, and
    # failing schedules already known (the failure store). "" = ordinary runs.
    timing_from: str = ""
    timing_runs: int = 0
    timing_schedules: tuple[str, ...] = ()
    # The timings the simulated half already worked out for the found failure
    # ({"schedule", "delays", "statement"}), and why it gave none; None: not known yet.
    known_timings: tuple[dict[str, Any], ...] | None = None
    known_reason: str = ""

    def to_message(self) -> dict[str, Any]:
        return {"type": "real", **asdict(self)}

    @staticmethod
    def from_message(message: dict[str, Any]) -> RealJob:
        fields = {k: v for k, v in message.items() if k != "type"}
        fields["runs"] = tuple(RunSpec(**r) for r in fields["runs"])
        fields["timing_schedules"] = tuple(fields.get("timing_schedules", ()))
        if fields.get("known_timings") is not None:
            fields["known_timings"] = tuple(fields["known_timings"])
        return RealJob(**fields)


@dataclass(frozen=True)
class SimJob:
    """One variant explored on the simulated loop: pct, then random, within `runs` schedules."""

    job_id: int
    source_file: str
    scenario: str
    variant: str
    runs: int
    seed: int = 0

    def to_message(self) -> dict[str, Any]:
        return {"type": "sim", **asdict(self)}

    @staticmethod
    def from_message(message: dict[str, Any]) -> SimJob:
        return SimJob(**{k: v for k, v in message.items() if k != "type"})


@dataclass(frozen=True)
class RunOutcome:
    """What one real run produced, as the worker saw it.

    `kind` is None for a pass, otherwise one failure kind of the contract (plus
    `crash` and `harness-error`, which only the real backend can produce).
    """

    index: int
    seed: int
    kind: str | None
    message: str
    duration_s: float            # wall time of the loop running the copies
    concurrency: int
    failed_copies: int = 0
    leaks: tuple[str, ...] = ()  # what outlived the run (already cleaned up)
    retire: bool = False         # the worker's state is suspect: it exits after this run
    traceback: str = ""          # the failure's traceback, as Python prints it ("" for none)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        return {"type": "result", **asdict(self)}

    @staticmethod
    def from_message(message: dict[str, Any]) -> RunOutcome:
        fields = {k: v for k, v in message.items() if k != "type"}
        fields["leaks"] = tuple(fields.get("leaks", ()))
        return RunOutcome(**fields)


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line."""
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    """Parse one protocol line (raises ValueError on garbage)."""
    value = json.loads(line)
    if not isinstance(value, dict) or "type" not in value:
        raise ValueError(f"not a protocol message: {line[:200]!r}")
    return value
