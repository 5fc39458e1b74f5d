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


def compare(target: FailureTarget, failure: Failure) -> Comparison:
    """Apply the matching rules of the module doc to one simulated failure."""
    seen = Observed.of(failure)
    differences: list[str] = []
    scores: list[float] = []
    if target.exc_type:
        same = _short_type(target.exc_type) == _short_type(seen.exc_type)
        if not same:
            differences.append(f"exception {seen.exc_type or seen.kind}, not {target.exc_type}")
    else:
        same = not target.kind or target.kind == seen.kind
        if not same:
            differences.append(f"kind {seen.kind}, not {target.kind}")
    # The exception type counts double: another type is another bug more surely than another line.
    scores += [1.0 if same else 0.0] * 2
    wanted, got = normalise(target.message), normalise(seen.message)
    if not (_is_explanation(target.message) or _is_explanation(seen.message)):
        # pytest's summary line cuts a long message to the terminal width, ending it "...".
        same = wanted == got or (wanted.endswith("...") and got.startswith(wanted[:-3].rstrip()))
        ratio = 1.0 if same else difflib.SequenceMatcher(None, wanted, got).ratio()
        scores.append(ratio)
        if not same:
            differences.append(f"message {got!r}, not {wanted!r}")
    frames_wanted = user_frames(target.frames) if not (len(target.frames) == 1 and not target.frames[0].function) \
        else target.frames
    frames_seen = user_frames(seen.frames) if frames_wanted is not target.frames else seen.frames[-1:]
    # Frames outside the run (the script or runner that started it on CI) are not compared.
    count = min(FRAMES_COMPARED, len(frames_wanted), max(1, len(frames_seen)))
    if count:
        pairs = list(zip(reversed(frames_wanted[-count:]), reversed(frames_seen[-count:])))
        agreeing = 0
        for one, other in pairs:
            if not _same_frame(one, other):
                break
            agreeing += 1
        scores.append(agreeing / count)
        if agreeing < count:
            theirs = where(frames_seen[-1 - agreeing]) if agreeing < len(frames_seen) else "no frame"
            differences.append(f"raised at {theirs}, not {where(frames_wanted[-1 - agreeing])}"
                               if agreeing == 0 else
                               f"frame {agreeing + 1} from the innermost is {theirs}, not "
                               f"{where(frames_wanted[-1 - agreeing])}")
    closeness = sum(scores) / len(scores)
    return Comparison(not differences, round(closeness, 4), tuple(differences))


def frame_spots(target: FailureTarget) -> frozenset[str]:
    """`file.py:LINE` of every user frame of the target: the await points a run should reach."""
    return frozenset(f"{os.path.basename(f.file)}:{f.line}" for f in user_frames(target.frames))
