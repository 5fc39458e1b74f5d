"""A failure recorded outside simharness (in CI, on the stock runtime): what `reproduce` looks for.

`read_failures(path)` reads every failure a file records, whatever its form: pytest's
failure text (`-q`, `-rf`, `--tb=long` / `short` / `native`), a plain Python
traceback, pytest's JUnit XML, or the run log of `simharness stress`
(`stress-log.jsonl`: each real-backend failure, with its traceback since #22). A file
that records none is a `FailureFileError` (one line, exit 2).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from simharness.errors import SimharnessError
from simharness.explore.reproduce.text import (
    ParsedFailure, looks_like_pytest, parse_pytest, parse_traceback, split_exception,
)
from simharness.explore.reproduce.volatile import normalise
from simharness.outcome import Frame

#: Larger failure files are refused: a CI log worth reproducing is far smaller.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Backends of the run log whose runs are on the stock runtime.
REAL_BACKENDS = ("real", "timed")
_AT = re.compile(r" \(at ([^():]+):(\d+)\)")
_DIED = re.compile(r"died with (.*) and nobody retrieved it")


class FailureFileError(SimharnessError):
    """The failure file cannot be read, or records no failure `reproduce` can look for."""


@dataclass(frozen=True)
class FailureTarget:
    """One recorded failure: its exception, where it was raised, and which test raised it."""

    exc_type: str                  # "AssertionError"; "" when the record does not say
    message: str                   # the exception message as recorded (may have several lines)
    frames: tuple[Frame, ...]      # the traceback, outermost first; () when only a summary
    test_id: str = ""              # pytest node id, or the scenario name (stress log)
    variant: str = ""              # the scenario variant (stress log only)
    kind: str = ""                 # the failure kind (stress log only: deadlock, timeout, ...)
    source: str = ""               # "pytest output", "traceback", "junit", "stress log"
    seen: int = 1                  # how many recorded runs failed so (stress log)
    out_of: int = 0                # of how many recorded runs (stress log; 0: unknown)

    def describe(self) -> str:
        """`Type: first line of the message` for people."""
        first = self.message.splitlines()[0] if self.message else ""
        head = self.exc_type or self.kind or "failure"
        return f"{head}: {first}" if first else head


def _target(parsed: ParsedFailure, source: str) -> FailureTarget:
    return FailureTarget(parsed.exc_type, parsed.message, parsed.frames, parsed.test_id, source=source)


def parse_text(text: str) -> list[FailureTarget]:
    """The failures of a pytest output or a plain traceback (either may be empty)."""
    if looks_like_pytest(text):
        return [_target(p, "pytest output") for p in parse_pytest(text)]
    parsed = parse_traceback(text)
    return [_target(parsed, "traceback")] if parsed is not None else []


def _module_path(classname: str, root: Path) -> tuple[str, list[str]]:
    """`tests.test_x.TestK` -> ("tests/test_x.py", ["TestK"]): the longest prefix that is a file."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut]) + ".py"
        if (root / candidate).is_file():
            return candidate, parts[cut:]
    # Not found here: classes are capitalised, modules usually are not.
    cut = len(parts)
    while cut > 1 and parts[cut - 1][:1].isupper():
        cut -= 1
    return "/".join(parts[:cut]) + ".py", parts[cut:]


def parse_junit(data: bytes, root: Path) -> list[FailureTarget]:
    """Each `<failure>` / `<error>` of pytest's JUnit XML, with the test id rebuilt from classname and name."""
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as error:
        raise FailureFileError(f"not a JUnit XML file: {error}") from None
    targets: list[FailureTarget] = []
    for case in tree.iter("testcase"):
        for tag in ("failure", "error"):
            element = case.find(tag)
            if element is None:
                continue
            path, classes = _module_path(case.get("classname", ""), root)
            test_id = "::".join([case.get("file") or path, *classes, case.get("name", "")])
            body = element.text or ""
            sections = parse_pytest(f"=== FAILURES ===\n___ x ___\n{body}\n=== end ===")
            parsed = sections[0] if sections else ParsedFailure("", "", ())
            if not parsed.exc_type and not parsed.message:
                exc_type, message = split_exception(element.get("message", ""))
                parsed = ParsedFailure(exc_type, message, parsed.frames)
            targets.append(FailureTarget(parsed.exc_type, parsed.message, parsed.frames, test_id,
                                         source="junit"))
    return targets


def from_message(kind: str, message: str) -> tuple[str, str, tuple[Frame, ...]]:
    """Type, message and innermost frame of a simharness failure message (`Type: text (at f.py:12)`)."""
    text = message
    died = _DIED.search(text)
    if kind == "task-exception" and died:
        text = died.group(1)
    at = _AT.search(text)
    frames = (Frame(at.group(1), int(at.group(2))),) if at else ()
    text = _AT.sub("", text, count=1)
    if kind in ("assertion", "exception", "task-exception"):
        exc_type, rest = split_exception(text)
        return exc_type, rest, frames
    return "", text, frames


def _stress_targets(start: dict[str, object]) -> dict[str, str]:
    """scenario -> `PATH.py::NAME` (or `NAME`) from the run log's start line."""
    found: dict[str, str] = {}
    variants = start.get("variants")
    for variant in variants if isinstance(variants, list) else ():
        if not isinstance(variant, dict):
            continue
        scenario, given = str(variant.get("scenario", "")), str(variant.get("target", ""))
        if "::" in given:
            found[scenario] = given
        elif given.endswith(".py"):
            found[scenario] = f"{given}::{scenario}"
    return found


def parse_stress_log(text: str) -> list[FailureTarget]:
    """Real-backend failures of a `stress-log.jsonl`, one target per distinct failure, counted."""
    runs: dict[tuple[str, str], int] = {}
    named: dict[str, str] = {}  # scenario -> the target stress was given for it
    groups: dict[tuple[str, str, str, str], list[dict[str, object]]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        # "timed": stock-runtime runs under a found failure's checkpoint durations.
        if isinstance(entry, dict) and entry.get("type") == "start":
            named.update(_stress_targets(entry))
        if not isinstance(entry, dict) or entry.get("type") != "run" or entry.get("backend") not in REAL_BACKENDS:
            continue
        key = (str(entry.get("scenario", "")), str(entry.get("variant", "")))
        runs[key] = runs.get(key, 0) + 1
        if entry.get("kind"):
            normalised = normalise(str(entry.get("message", "")))
            groups.setdefault((*key, str(entry["kind"]), normalised), []).append(entry)
    targets = []
    for (scenario, variant, kind, _), entries in groups.items():
        first = entries[0]
        exc_type, message, frames = from_message(kind, str(first.get("message", "")))
        traced = parse_traceback(str(first.get("traceback") or ""))
        if traced is not None and traced.frames:
            frames = traced.frames
        targets.append(FailureTarget(exc_type, message, frames, named.get(scenario, scenario), variant, kind,
                                     "stress log",
                                     seen=len(entries), out_of=runs[(scenario, variant)]))
    return targets


def read_failures(path: str | Path, root: Path | None = None) -> list[FailureTarget]:
    """Every failure the file at `path` records; `FailureFileError` when it records none.

    `root` is where JUnit classnames are looked up as files (default: the current folder).
    """
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise FailureFileError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB: "
                                   "give the failing test's output or traceback")
        data = file.read_bytes()
    except OSError as error:
        raise FailureFileError(f"cannot read the failure file {path}: {error.strerror or error}") from None
    head = data.lstrip()[:200]
    if head.startswith(b"<"):
        targets = parse_junit(data, root or Path.cwd())
        if not targets:
            raise FailureFileError(f"{path} is a JUnit file with no failed test")
        return targets
    text = data.decode("utf-8", errors="replace")
    if head.startswith(b"{"):
        targets = parse_stress_log(text)
        if not targets:
            raise FailureFileError(f"{path} is a stress run log with no failed real run")
        return targets
    targets = parse_text(text)
    if not targets:
        raise FailureFileError(f"{path} holds no traceback and no pytest failure "
                               "(give pytest's output, a Python traceback, a JUnit XML file or a stress run log)")
    return targets
