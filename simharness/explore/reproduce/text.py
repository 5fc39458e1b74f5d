"""Failure text as people paste it: pytest's failure report and plain Python tracebacks.

pytest forms understood: the `FAILURES` / `ERRORS` sections in `--tb=long` (the
default, also under `-q`), `--tb=short` and `--tb=native`, and the short test summary
(`FAILED id - message`, printed by `-rf` and by default), which alone gives the test
id, the exception type and the first line of the message but no frames. A plain
traceback is CPython's `Traceback (most recent call last):` block; with chained
exceptions the last block is the one that propagated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simharness.outcome import Frame

_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (\S+)(?: - (.*))?$")
_HEADLINE = re.compile(r"^_{3,} (.+?) _{3,}$")
_SECTION = re.compile(r"^={3,} (FAILURES|ERRORS) ={3,}$")
_BANNER = re.compile(r"^={3,}.*={3,}$")
_SEPARATOR = re.compile(r"^(_ ){5,}_?\s*$")
_SHORT_LOCATION = re.compile(r"^(\S.*?):(\d+): in (\S+)$")
_LONG_LOCATION = re.compile(r"^(\S.*?):(\d+): ?(\w[\w.]*)?$")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(")
_E_LINE = re.compile(r"^E {1,7}(.*)$")
_NATIVE_FRAME = re.compile(r'^\s*File "(.+)", line (\d+), in (\S+)')
_TRACEBACK_HEAD = "Traceback (most recent call last):"
#: `Type: message` or a bare `Type` (a dotted name starting a line).
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::(?: (.*))?)?$")


@dataclass(frozen=True)
class ParsedFailure:
    """One failure read from text: the exception and where it was raised."""

    exc_type: str                  # "" when the text does not say
    message: str                   # the exception's message (all its lines)
    frames: tuple[Frame, ...]      # outermost first; () for a summary line
    test_id: str = ""              # pytest node id, when the text names it


def split_exception(line: str) -> tuple[str, str]:
    """`("KeyError", "'x'")` from `KeyError: 'x'`; `("AssertionError", ...)` for pytest's `assert ...`."""
    text = line.strip()
    if text.startswith("assert ") or text == "assert":
        return "AssertionError", text  # pytest's rewritten assertion without a message of its own
    found = _EXCEPTION_LINE.match(text)
    if found and found.group(1)[-1:] != "." and (found.group(1).split(".")[-1][:1].isupper()):
        return found.group(1), found.group(2) or ""
    return "", text


def parse_traceback(text: str) -> ParsedFailure | None:
    """The last `Traceback (most recent call last):` block of `text`, or None."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().endswith(_TRACEBACK_HEAD)]
    if not starts:
        return None
    frames: list[Frame] = []
    index = starts[-1] + 1
    while index < len(lines):
        line = lines[index]
        found = _NATIVE_FRAME.match(line)
        if found:
            frames.append(Frame(found.group(1), int(found.group(2)), found.group(3)))
        elif line.strip() and not line[:1].isspace():
            break  # the first unindented line after the frames is the exception
        index += 1
    if index >= len(lines):
        return None
    exc_type, first = split_exception(lines[index])
    rest = []
    for line in lines[index + 1:]:
        if not line.strip() or line.startswith(("During handling", "The above exception")):
            break
        rest.append(line)
    return ParsedFailure(exc_type, "\n".join([first, *rest]).strip(), tuple(frames))


def _entry_frames(block: list[str]) -> list[Frame]:
    """Frames of one pytest failure section, in `--tb=long` or `--tb=short` form."""
    frames: list[Frame] = []
    function = ""
    for line in block:
        if _SEPARATOR.match(line):
            function = ""
            continue
        defined = _DEF.match(line)
        if defined and not function:
            function = defined.group(1)  # long form: the entry shows its function's source
        short = _SHORT_LOCATION.match(line)
        if short:
            frames.append(Frame(short.group(1), int(short.group(2)), short.group(3)))
            continue
        location = _LONG_LOCATION.match(line)
        if location and not line.startswith(("E ", " ")):
            frames.append(Frame(location.group(1), int(location.group(2)), function))
            function = ""
    return frames


def _section(headline: str, block: list[str]) -> ParsedFailure:
    native = parse_traceback("\n".join(block))
    if native is not None:
        return ParsedFailure(native.exc_type, native.message, native.frames, headline)
    errors = [m.group(1) for m in map(_E_LINE.match, block) if m]
    exc_type, first = split_exception(errors[0]) if errors else ("", "")
    if not exc_type:
        # --tb=long names the type at the end of the last entry: "path.py:5: KeyError".
        tail = [m for m in map(_LONG_LOCATION.match, block) if m and m.group(3)]
        exc_type = tail[-1].group(3) if tail else ""
    message = "\n".join([first, *errors[1:]]).strip()
    return ParsedFailure(exc_type, message, tuple(_entry_frames(block)), headline)


def _sections(lines: list[str]) -> list[ParsedFailure]:
    found: list[ParsedFailure] = []
    inside, headline, block = False, "", list[str]()
    for line in lines + ["=== end ==="]:
        if _SECTION.match(line):
            inside = True
            continue
        if not inside:
            continue
        heading = _HEADLINE.match(line)
        if heading or _BANNER.match(line):
            if headline:
                found.append(_section(headline, block))
            headline, block = (heading.group(1) if heading else ""), []
            if not heading:
                inside = False
            continue
        block.append(line)
    return found


def _same_test(headline: str, test_id: str) -> bool:
    """pytest's section headline (`TestK.test_x[1]`) names the node id `f.py::TestK::test_x[1]`."""
    return test_id.split("::", 1)[-1].replace("::", ".") == headline


def parse_pytest(text: str) -> list[ParsedFailure]:
    """Every failed test in pytest's output, with its id wherever the output gives one."""
    lines = text.splitlines()
    summary = [m for m in map(_SUMMARY.match, (line.rstrip() for line in lines)) if m]
    sections = _sections(lines)
    results: list[ParsedFailure] = []
    used: set[int] = set()
    for entry in summary:
        test_id, short = entry.group(1), entry.group(2) or ""
        match = next((i for i, s in enumerate(sections) if i not in used and _same_test(s.test_id, test_id)), None)
        if match is not None:
            used.add(match)
            section = sections[match]
            results.append(ParsedFailure(section.exc_type, section.message, section.frames, test_id))
        else:
            exc_type, message = split_exception(short)
            results.append(ParsedFailure(exc_type, message, (), test_id))
    for index, section in enumerate(sections):
        if index not in used:  # no summary line (-rN): the id from the file of its first frame
            where = section.frames[0].file if section.frames else ""
            test_id = f"{where}::{section.test_id.replace('.', '::')}" if where.endswith(".py") else ""
            results.append(ParsedFailure(section.exc_type, section.message, section.frames, test_id))
    return results


def looks_like_pytest(text: str) -> bool:
    """True when `text` holds pytest's failure sections or summary lines."""
    return any(_SECTION.match(line) or _SUMMARY.match(line.rstrip()) for line in text.splitlines())
