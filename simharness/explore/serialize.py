"""JSON documents of the contract: result dataclasses turned into plain dicts.

These are the machine-readable forms of `explore --json` and `replay --json` (and
the building blocks the stress and report commands reuse). They hold only JSON
types, and their keys are stable: reports are rendered from them later.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from simharness.explore.raced import mark_raced
from simharness.outcome import Exploration, RunResult, TraceStep

#: Builds the replay command line for one failed exploration.
ReplayCommand = Callable[[Exploration], str]


def to_jsonable(value: Any) -> Any:
    """`value` as JSON types only: dataclasses and mappings become dicts, sequences lists.

    Anything else (a class given as a variant value, a path) becomes its `repr` or
    string, so a document can always be written.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinity; null says "no number" honestly.
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, type):
        return value.__qualname__
    return repr(value)


def replay_command(target: str, variant: str, schedule: str, *, scenarios_dir: str | None = None,
                   max_steps: int | None = None, faults: tuple[str, ...] | None = None) -> str:
    """The shell command that replays `schedule`: `simharness replay TARGET --variant V --schedule S`.

    `scenarios_dir` and `max_steps` are appended only when the run needed them, so the
    common line is exactly the contract's; every part is shell-quoted when needed.
    """
    parts = ["simharness", "replay", target, "--variant", variant, "--schedule", schedule]
    if scenarios_dir is not None:
        parts += ["--scenarios-dir", scenarios_dir]
    if max_steps is not None:
        parts += ["--max-steps", str(max_steps)]
    if faults is not None:  # the run narrowed the scenario's faults: the replay must too
        parts += ["--faults", ",".join(faults) or "none"]
    return " ".join(shlex.quote(p) for p in parts)


def exploration_result(exploration: Exploration, replay: str | None = None) -> dict[str, Any]:
    """One entry of `results` in the explore document."""
    document = to_jsonable(exploration)
    if document["failure"] is not None:
        document["failure"]["replay"] = replay
    return document  # type: ignore[no-any-return]


def exploration_document(target: str, explorations: Sequence[Exploration],
                         replay: ReplayCommand | None = None) -> dict[str, Any]:
    """The `explore --json` document: `{"target", "results": [...]}`.

    `replay` builds each failure's replay command; by default it is the plain
    contract line for `target`.
    """
    def default(exploration: Exploration) -> str:
        assert exploration.failure is not None
        return replay_command(target, exploration.variant, exploration.failure.schedule)

    build = replay or default
    return {
        "target": target,
        "results": [exploration_result(e, build(e) if e.failure is not None else None)
                    for e in explorations],
    }


def _marked(trace: tuple[TraceStep, ...], explanation: Any | None) -> tuple[TraceStep, ...]:
    """With recorded accesses, `access` names only the raced state the explanation names."""
    if explanation is None or not getattr(explanation, "accesses_recorded", False):
        return trace
    return mark_raced(trace, explanation.raced)


def replay_document(target: str, result: RunResult, fifo: RunResult | None,
                    explanation: Any | None) -> dict[str, Any]:
    """The `replay --json` document: outcome, the detailed trace, decisions, FIFO trace, why.

    `result` should come from `replay(..., trace=True)` and `fifo` from a detailed
    default-order run of the same variant; `explanation` is an `explain.Explanation`.
    """
    failure = result.failure
    return {
        "target": target,
        "scenario": result.scenario,
        "variant": result.variant,
        "failed": result.failed,
        "kind": failure.kind if failure else None,
        "message": failure.message if failure else None,
        "preemptive": result.schedule.preemptive,
        "trace_hash": result.trace_hash,
        "steps": result.steps,
        "schedule": result.schedule.encode(),
        "virtual_time": to_jsonable(result.virtual_time),
        "trace": to_jsonable(_marked(result.trace, explanation)),
        "decisions": to_jsonable(result.decision_log),
        "fifo_trace": to_jsonable(fifo.trace) if fifo is not None else [],
        "fifo_failed": fifo.failed if fifo is not None else None,
        "fifo_kind": fifo.failure.kind if fifo is not None and fifo.failure else None,
        "explanation": to_jsonable(explanation),
        # The raced state in words (the explanation's `raced_lines`), when accesses were recorded.
        "raced_state": list(getattr(explanation, "raced_lines", ())),
    }
