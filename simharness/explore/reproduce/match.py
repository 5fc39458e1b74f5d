"""When a simulated failure is the recorded one: the matching rules of `reproduce`.

A run's failure *matches* a `FailureTarget` when all of these hold:

1. **Exception type**: the same class name (the last dotted part: `asyncio.TimeoutError`
   and `TimeoutError` are the same). A target without a type (a stress-log deadlock,
   timeout, leak or invariant) needs the same failure kind instead.
2. **Message**: the first line of each, equal after masking what differs between two
   runs of the same bug: object reprs and hex addresses (`0x7f3a...`), UUIDs, long hex
   ids, temporary paths (`/tmp/...`), and every number (ports, pids, counts, timings:
   "value is 1" and "value is 3" are the same lost update). pytest's rewritten
   explanation (`assert 1 == 2`, the lines after the message) is not compared: the
   simulated run of a scenario is not rewritten; a message pytest's summary line cut
   short (ending `...`) needs only to start the run's message. When one side has only such an
   explanation or no message at all (a bare `assert`), the frames decide.
3. **Frames**: the innermost user frames of the target (up to three) are the innermost
   user frames of the run, pairwise: same file name, same line, same function where
   both name one; never more frames than the run has (what started the run on CI, a
   script or a runner, has no counterpart in the simulated run). User frames are those outside the Python standard library,
   installed packages (`site-packages`) and simharness itself. A target without frames
   (a `-rf` summary line) is matched on 1 and 2 alone; a stress-log target without a
   traceback compares the innermost frame its message names (`(at race.py:47)`).

A hang on the stock runtime (the real backend's `timeout`: "copies still running ...: Task
at f.py:49", or "run did not finish within --timeout") matches a simulated `deadlock` or
`timeout` whose message names every `file.py:LINE` where the recorded tasks waited, among
the files both name (when they name no file in common, the kind alone): the virtual clock shows the same hang as a
deadlock, or a run past its step budget.

`compare` also scores how close a non-matching failure came (0 to 1) and says what
differs, for the "not reproduced" report.
"""

from __future__ import annotations

import difflib
import os
import re
import sysconfig
from dataclasses import dataclass

from simharness.explore.reproduce.target import FailureTarget, from_message
from simharness.explore.reproduce.volatile import normalise
from simharness.outcome import Failure, Frame

#: How many innermost user frames must agree.
FRAMES_COMPARED = 3
#: Simulated kinds a stock-runtime hang may be.
HANG_KINDS = ("deadlock", "timeout")
_SPOT = re.compile(r"[\w.-]+\.py:\d+")
_STDLIB = tuple(os.path.normpath(p) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_OWN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the simharness package
# Another machine's standard library (CI): .../lib/python3.12/asyncio/tasks.py, Windows' Lib/.
_FOREIGN_STDLIB = re.compile(r"[/\\](?:lib[/\\]python3\.\d+|Lib)[/\\](?!site-packages|dist-packages)")
_OWN_PACKAGES = re.compile(r"[/\\]simharness[/\\](?:engine|explore|world|integrations|real|stress|api\.py)")


def is_user_frame(frame: Frame) -> bool:
    """A frame of the user's own code: not the standard library, an installed package or simharness."""
    path = frame.file
    if path.startswith("<") or "site-packages" in path or "dist-packages" in path:
        return False
    absolute = os.path.normpath(os.path.abspath(path)) if os.path.isabs(path) else path
    if absolute.startswith(_STDLIB) or absolute.startswith(_OWN + os.sep):
        return False
    return not (_FOREIGN_STDLIB.search(path) or _OWN_PACKAGES.search(path))


def user_frames(frames: tuple[Frame, ...]) -> tuple[Frame, ...]:
    return tuple(f for f in frames if is_user_frame(f))


def _same_frame(one: Frame, other: Frame) -> bool:
    if os.path.basename(one.file) != os.path.basename(other.file) or one.line != other.line:
        return False
    return not (one.function and other.function) or one.function == other.function


def where(frame: Frame) -> str:
    """`race.py:47 in update` for people."""
    name = os.path.basename(frame.file)
    return f"{name}:{frame.line}" + (f" in {frame.function}" if frame.function else "")


def _is_explanation(message: str) -> bool:
    """pytest's rewritten assertion explanation, or no message: nothing the run can be held to."""
    return not message.strip() or message.strip().startswith("assert ")


@dataclass(frozen=True)
class Observed:
    """A simulated failure seen the way a target is: type, message and frames."""

    kind: str
    exc_type: str
    message: str
    frames: tuple[Frame, ...]

    @staticmethod
    def of(failure: Failure) -> Observed:
        exc_type, message, innermost = from_message(failure.kind, failure.message.split(" [preemptive", 1)[0])
        message = re.sub(r" \(in (?:setup|teardown)\)$", "", message)
        return Observed(failure.kind, exc_type, message, failure.frames or innermost)


@dataclass(frozen=True)
class Comparison:
    """How a run's failure compares with the target: matched, how close (0..1), what differs."""

    matched: bool
    closeness: float
    differences: tuple[str, ...]


def _short_type(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _is_hang(target: FailureTarget) -> bool:
    """A stock-runtime run that never finished (the real backend's `timeout`: "still running")."""
    return target.kind == "timeout" and ("still running" in target.message or "did not finish" in target.message)


def _same_kind(target: FailureTarget, seen: Observed) -> tuple[bool, str]:
    if target.exc_type:
        same = _short_type(target.exc_type) == _short_type(seen.exc_type)
        return same, "" if same else f"exception {seen.exc_type or seen.kind}, not {target.exc_type}"
    # A hang on the stock runtime is a deadlock (or a timeout) on the virtual clock.
    same = not target.kind or target.kind == seen.kind or (_is_hang(target) and seen.kind in HANG_KINDS)
    return same, "" if same else f"kind {seen.kind}, not {target.kind}"


def _same_message(target: FailureTarget, seen: Observed) -> tuple[float | None, str]:
    """(closeness of the messages, or None when they cannot be held to each other; a difference)."""
    if _is_hang(target):
        # The messages differ in form; both name where the tasks wait (`file.py:LINE`).
        blocked = set(_SPOT.findall(seen.message))
        # Only places in files both name are compared: the stock runtime names a task's
        # innermost frame outside asyncio (it may be a library's), the simulation its own.
        files = {spot.rsplit(":", 1)[0] for spot in blocked}
        waiting = {spot for spot in _SPOT.findall(target.message) if spot.rsplit(":", 1)[0] in files}
        if not waiting:
            return None, ""
        covered = len(waiting & blocked) / len(waiting)
        return covered, "" if covered == 1 else f"tasks wait elsewhere: {', '.join(sorted(blocked)) or 'none named'}"
    if _is_explanation(target.message) or _is_explanation(seen.message):
        return None, ""
    wanted, got = normalise(target.message), normalise(seen.message)
    # pytest's summary line cuts a long message to the terminal width, ending it "...".
    same = wanted == got or (wanted.endswith("...") and got.startswith(wanted[:-3].rstrip()))
    ratio = 1.0 if same else difflib.SequenceMatcher(None, wanted, got).ratio()
    return ratio, "" if same else f"message {got!r}, not {wanted!r}"


def _same_frames(target: FailureTarget, seen: Observed) -> tuple[float | None, str]:
    located = len(target.frames) == 1 and not target.frames[0].function  # only `(at f.py:12)` known
    frames_wanted = target.frames if located else user_frames(target.frames)
    frames_seen = seen.frames[-1:] if located else user_frames(seen.frames)
    # Frames outside the run (the script or runner that started it on CI) are not compared.
    count = min(FRAMES_COMPARED, len(frames_wanted), max(1, len(frames_seen)))
    if not count:
        return None, ""
    agreeing = 0
    for one, other in zip(reversed(frames_wanted[-count:]), reversed(frames_seen[-count:])):
        if not _same_frame(one, other):
            break
        agreeing += 1
    if agreeing == count:
        return 1.0, ""
    theirs = where(frames_seen[-1 - agreeing]) if agreeing < len(frames_seen) else "no frame"
    wanted = where(frames_wanted[-1 - agreeing])
    text = (f"raised at {theirs}, not {wanted}" if agreeing == 0 else
            f"frame {agreeing + 1} from the innermost is {theirs}, not {wanted}")
    return agreeing / count, text


def compare(target: FailureTarget, failure: Failure) -> Comparison:
    """Apply the matching rules of the module doc to one simulated failure."""
    seen = Observed.of(failure)
    same, kind_difference = _same_kind(target, seen)
    # The exception type counts double: another type is another bug more surely than another line.
    scores = [1.0 if same else 0.0] * 2
    differences = [kind_difference]
    for score, difference in (_same_message(target, seen), _same_frames(target, seen)):
        if score is not None:
            scores.append(score)
        differences.append(difference)
    found = tuple(d for d in differences if d)
    return Comparison(not found, round(sum(scores) / len(scores), 4), found)


def frame_spots(target: FailureTarget) -> frozenset[str]:
    """`file.py:LINE` of every user frame of the target: the await points a run should reach."""
    return frozenset(f"{os.path.basename(f.file)}:{f.line}" for f in user_frames(target.frames))
