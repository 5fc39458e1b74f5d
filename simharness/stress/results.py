"""What a stress run reports: outcome tables, per-level rates and speedup, per backend.

These frozen dataclasses are the stable, JSON-ready shape of the summary (the HTML
report renders them). Outcomes are JCStress-style: every distinct outcome ("pass", or
a failure kind with its normalised message), how often it occurred, and whether the
variant's `expect` allows it.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

#: How an outcome relates to the variant's expectation.
#: expected: what `expect` says (a pass of a fixed variant, the bug of a buggy one);
#: acceptable: allowed but not the point (a buggy variant's run that missed the race);
#: unexpected: contradicts `expect` (any failure of a fixed variant), or a buggy
#: variant failing in a way that is not its bug (a worker crash, say).
GRADES = ("expected", "acceptable", "unexpected")

_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/[^\s:'\"]*simharness-stress-[^\s:'\"]*"), "<run-dir>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"\b(pid|process|worker)( \d+)"), r"\1 N"),
    (re.compile(r"(127\.0\.0\.1|localhost|::1)[:.](\d+)"), r"\1:PORT"),
    (re.compile(r"socket:\[\d+\]"), "socket:[N]"),
    (re.compile(r"file descriptor \d+"), "file descriptor N"),
    (re.compile(r"\bTask-\d+"), "Task-N"),
    # Real-time readings (t=0.205 s, after 1.003s) differ every run; other numbers (counts,
    # values, a scenario's outcome labels such as "5.2") are part of the outcome.
    (re.compile(r"(?<![\d.])\d+\.\d+(?=\s*(?:s|ms|us|seconds?)\b)"), "#.#"),
    (re.compile(r"\bt=\d+\.\d+"), "t=#.#"),
)
_MESSAGE_LIMIT = 240


def normalise(message: str) -> str:
    """A failure message with run-specific details (paths, pids, ports, addresses) removed."""
    text = message
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class OutcomeRow:
    """One distinct outcome of a variant on one backend."""

    outcome: str          # "pass" or the failure kind
    message: str          # normalised message ("" for pass)
    count: int
    frequency: float      # count / runs
    grade: str            # one of GRADES
    expected: bool        # grade is expected or acceptable


@dataclass(frozen=True)
class LevelResult:
    """Real runs of one variant at one concurrency level."""

    concurrency: int
    runs: int
    failures: int
    failure_rate: float
    median_run_s: float | None     # wall time of one run (all copies), median
    copies_per_s: float | None     # scenario copies completed per second by one worker
    speedup: float | None          # vs running the same copies one at a time (lowest level)
    efficiency: float | None       # speedup / concurrency ratio
    outcomes: tuple[OutcomeRow, ...]
    skipped: int = 0               # runs not done after repeated timeouts


@dataclass(frozen=True)
class SimFinding:
    """The failure the simulated explorer found, with what it takes to replay it."""

    kind: str
    message: str
    schedule: str
    trace_hash: str
    strategy: str
    seed: int
    run_index: int          # 1-based schedule index within the whole budget
    replay: str


@dataclass(frozen=True)
class BackendResult:
    """One entry of the summary's `results`: a variant on one backend."""

    scenario: str
    variant: str
    backend: str            # "sim" or "real"
    expect: str
    runs: int               # real: runs over every level; sim: schedules explored
    failures: int
    ok: bool                # this backend's part of the verdict held
    failure_rate: float
    outcomes: tuple[OutcomeRow, ...] = ()
    levels: tuple[LevelResult, ...] = ()       # real only
    found: SimFinding | None = None            # sim only
    error: str | None = None                   # sim: the exploration itself crashed or hung
    observed: bool = False                     # the variant failed at least once here
    settings: dict[str, Any] | None = None     # loop, noise, load, workers (real)
    skipped: int = 0                           # real runs skipped after repeated timeouts
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    """Whether one variant met its `expect`, over every backend that ran it."""

    scenario: str
    variant: str
    expect: str
    ok: bool
    verdict: str            # "pass", "fail", "caught", "missed", "not-observed", "skipped"
    reason: str
    source_file: str


def grade(outcome: str, expect: str, bug_kinds: frozenset[str] | None) -> str:
    """Grade one outcome; `bug_kinds` = the kinds that count as the bug (None: any failure)."""
    if expect == "pass":
        return "expected" if outcome == "pass" else "unexpected"
    if outcome == "pass":
        return "acceptable"
    if bug_kinds is None or outcome in bug_kinds:
        return "expected"
    return "unexpected"


def outcome_rows(counts: Counter[tuple[str, str]], runs: int, expect: str,
                 bug_kinds: frozenset[str] | None) -> tuple[OutcomeRow, ...]:
    """Rows sorted by count (most frequent first), then outcome and message."""
    rows = []
    for (outcome, message), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        which = grade(outcome, expect, bug_kinds)
        rows.append(OutcomeRow(outcome, message, count, round(count / runs, 6) if runs else 0.0,
                               which, which != "unexpected"))
    return tuple(rows)


def level_results(levels: dict[int, tuple[Counter[tuple[str, str]], list[float]]], expect: str,
                  bug_kinds: frozenset[str] | None, skipped: dict[int, int] | None = None
                  ) -> tuple[LevelResult, ...]:
    """Per-level rows with speedup and efficiency relative to the lowest level."""
    medians = {c: statistics.median(d) if d else None for c, (_, d) in levels.items()}
    base = min(levels) if levels else 1
    base_median = medians.get(base)
    rows = []
    for concurrency in sorted(levels):
        counts, _ = levels[concurrency]
        runs = sum(counts.values())
        failures = runs - counts.get(("pass", ""), 0)
        median = medians[concurrency]
        speedup = efficiency = copies = None
        if median and base_median:
            ratio = concurrency / base
            speedup = round(ratio * base_median / median, 3)
            efficiency = round(speedup / ratio, 3)
        if median:
            copies = round(concurrency / median, 2)
        rows.append(LevelResult(concurrency, runs, failures, round(failures / runs, 6) if runs else 0.0,
                                round(median, 6) if median is not None else None, copies, speedup,
                                efficiency, outcome_rows(counts, runs, expect, bug_kinds),
                                (skipped or {}).get(concurrency, 0)))
    return tuple(rows)
