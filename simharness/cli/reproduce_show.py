"""What `simharness reproduce` prints: the outcome for people, and its `--json` document."""

from __future__ import annotations

from typing import Any

from simharness.cli.common import say
from simharness.cli.render import one_line
from simharness.explore.reproduce.match import where
from simharness.explore.reproduce.search import Candidate
from simharness.explore.serialize import to_jsonable
from simharness.explore.reproduce.outcome import TestReproduction, seen_text

#: Other failures listed before "... and N more".
SHOWN_OTHERS = 5


def _candidate(candidate: Candidate, indent: str = "  ") -> None:
    say(f"{indent}{candidate.kind}: {one_line(candidate.message)}")
    say(f"{indent}  first at schedule {candidate.run_index} ({candidate.count}x); closeness "
        f"{candidate.comparison.closeness:.2f}; schedule: {candidate.schedule}")
    for difference in candidate.comparison.differences:
        say(f"{indent}  differs: {one_line(difference)}")


def show(outcome: TestReproduction, *, stored: bool) -> None:
    """One test's outcome: reproduced with schedule and replay line, or the closest failures."""
    found, target = outcome.found, outcome.target
    say(f"recorded: {one_line(target.describe())} ({seen_text(target)})"
        + (f", raised at {where(target.frames[-1])}" if target.frames else ""))
    if found.reproduced and found.result is not None and found.result.failure is not None:
        result = found.result
        assert result.failure is not None
        say(f"{outcome.node_id}: reproduced after {found.run_index:,} schedule(s)", "bold red")
        say(f"kind: {result.failure.kind}")
        say(f"message: {one_line(result.failure.message)}")
        schedule = result.schedule.encode()
        if schedule != found.original_schedule:
            say(f"schedule: {schedule} (shrunk from {found.original_schedule} in {found.shrink_replays} replays)")
        else:
            say(f"schedule: {schedule}")
        say(f"replay: {outcome.replay}")
        say(f"trace-hash: {result.trace_hash}")
        if stored:
            say("stored: in the failure store; the next explore or pytest --sim replays it first")
    else:
        stopped = " (wall-time limit reached)" if found.stopped else ""
        say(f"{outcome.node_id}: not reproduced in {found.runs:,} schedule(s){stopped}", "bold yellow")
        if found.closest:
            say("closest failures (not the recorded one):")
            for candidate in found.closest:
                _candidate(candidate)
    others = [c for c in found.others if c not in found.closest]
    if others:
        say(f"other failures found on the way (not the recorded one): {len(others)}")
        for candidate in others[:SHOWN_OTHERS]:
            _candidate(candidate)
        if len(others) > SHOWN_OTHERS:
            say(f"  ... and {len(others) - SHOWN_OTHERS} more (--json lists them all)")


def _candidate_document(candidate: Candidate) -> dict[str, Any]:
    return {"kind": candidate.kind, "message": candidate.message, "schedule": candidate.schedule,
            "first_run": candidate.run_index, "count": candidate.count,
            "closeness": candidate.comparison.closeness, "differences": list(candidate.comparison.differences)}


def document(target: str, failure_file: str, outcomes: list[TestReproduction]) -> dict[str, Any]:
    """`{"target", "failure_file", "recorded", "results": [...]}` (see docs/cli.md)."""
    results = []
    for outcome in outcomes:
        found, result = outcome.found, outcome.found.result
        failed = result.failure if result is not None else None
        results.append({
            "test": outcome.node_id, "reproduced": found.reproduced, "runs": found.runs,
            "run_index": found.run_index, "stopped": found.stopped,
            "kind": failed.kind if failed else None, "message": failed.message if failed else None,
            "schedule": result.schedule.encode() if result is not None else None,
            "original_schedule": found.original_schedule or None, "shrink_replays": found.shrink_replays,
            "trace_hash": result.trace_hash if result is not None else None, "replay": outcome.replay or None,
            "closest": [_candidate_document(c) for c in found.closest],
            "others": [_candidate_document(c) for c in found.others],
        })
    recorded = outcomes[0].target if outcomes else None
    return {"target": target, "failure_file": failure_file, "recorded": to_jsonable(recorded), "results": results}
