"""One HTML report from one result document, and writing it atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from simharness.report.explore import explore_sections
from simharness.report.failure import replay_sections
from simharness.report.markup import esc, page, tag
from simharness.report.model import ReportError, document_kind
from simharness.report.sources import search_dirs
from simharness.report.stress import stress_sections


def _title(kind: str, document: dict[str, Any]) -> tuple[str, str]:
    if kind == "replay":
        return (f"{document.get('scenario')} [{document.get('variant')}]",
                f"replay of one schedule · {document.get('target')}")
    if kind == "explore":
        return f"explore {document.get('target')}", "schedules explored on virtual time"
    targets = ", ".join(str(t) for t in (document.get("options") or {}).get("targets") or ()) or "scenarios/"
    return f"stress {targets}", "the scenarios on the simulated and real backends, checked against expect"


def render_html(document: Any, *, source_dirs: Iterable[str | Path] = ()) -> str:
    """The self-contained report page of `document` (an explore, replay or stress result).

    Source excerpts are read from `source_dirs`, the target's folder, the current
    folder and scenarios/ when the files exist; nothing else is read.
    """
    kind = document_kind(document)
    try:
        dirs = search_dirs(str(document.get("target") or ""), source_dirs)
        if kind == "replay":
            body = replay_sections(document, dirs)
        elif kind == "explore":
            body = explore_sections(document, dirs)
        else:
            body = stress_sections(document)
        title, sub = _title(kind, document)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError) as error:
        # The document passed for a result by its top-level keys, but a field inside has
        # another type than simharness writes (a hand-edited or foreign file).
        raise ReportError(f"not a result document simharness can draw: a field of the {kind} document has "
                          f"the wrong shape ({type(error).__name__}: {str(error)[:200]})") from None
    header = tag("header", tag("h1", esc(title)) + tag("div", esc(f"simharness report · {sub}"), cls="sub"),
                 cls="top")
    return page(f"simharness: {title}", header + tag("main", body), kind=kind)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same folder and `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp makes the file private; a report is an ordinary file (umask applies).
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temp, 0o666 & ~mask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(document: Any, path: str | Path, *, source_dirs: Iterable[str | Path] = ()) -> Path:
    """Render `document` and write it to `path`; return the path."""
    target = Path(path)
    text = render_html(document, source_dirs=source_dirs)
    try:
        write_atomic(target, text)
    except OSError as error:  # a folder that is a file, is not writable, is /proc...
        raise ReportError(f"cannot write the report {target}: {os_reason(error)}") from None
    return target


def check_writable(folder: str | Path) -> None:
    """Raise `ReportError` unless a report can be written into `folder` (created if missing).

    Called before a long exploration, so a bad --report-dir costs nothing.
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".simharness-probe-", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ReportError(f"cannot write reports into {folder}: {os_reason(error)}") from None


def os_reason(error: OSError) -> str:
    """Why a write failed, in words (a file where a folder should be says so)."""
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return "a file is in the way where a folder is needed"
    return error.strerror or str(error)


def default_name(document: Any) -> str:
    """A file name for a report of `document`: kind and scenario, safe characters only."""
    kind = document_kind(document)
    if kind == "replay":
        stem = f"replay-{document.get('scenario')}-{document.get('variant')}"
    elif kind == "explore":
        names = sorted({str(r.get("scenario")) for r in document.get("results") or () if isinstance(r, dict)})
        stem = "explore-" + ("-".join(names[:2]) if names else "none")
    else:
        stem = "stress-report"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)
    while "--" in safe:
        safe = safe.replace("--", "-")
    return safe.strip("-.")[:120] + ".html"
