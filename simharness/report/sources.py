"""Source excerpts for the await points that raced, read at generation time if present.

Trace labels name files by base name ("race.py:21"), so a file is looked for in a
few folders (the target's own folder, the current folder, scenarios/). A report made
on a machine without the sources simply has no excerpts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Lines shown before and after the raced line.
CONTEXT_LINES = 3


@dataclass(frozen=True)
class Excerpt:
    """A few numbered lines around one await point, and where they were read."""

    file: str                          # as the label names it
    line: int
    path: str                          # absolute path it was read from
    lines: tuple[tuple[int, str], ...]

    @property
    def anchor(self) -> str:
        """The element id the timeline links to."""
        return anchor_for(self.file, self.line)


def anchor_for(file: str, line: int) -> str:
    """Element id of the excerpt of `file:line` (only safe characters)."""
    safe = "".join(c if c.isalnum() else "-" for c in file)
    return f"src-{safe}-{line}"


def search_dirs(target: str | None, extra: Iterable[str | Path] = ()) -> tuple[Path, ...]:
    """Folders to look in: the extra ones, the target file's folder, the current folder, scenarios/."""
    found: list[Path] = [Path(p) for p in extra]
    if target:
        path = Path(target.partition("::")[0])
        if path.suffix == ".py":
            found.append(path.parent)
    found += [Path.cwd(), Path.cwd() / "scenarios"]
    unique: list[Path] = []
    for folder in found:
        resolved = folder.resolve()
        if resolved not in unique:
            unique.append(resolved)
    return tuple(unique)


def excerpt(file: str, line: int, dirs: Sequence[Path], context: int = CONTEXT_LINES) -> Excerpt | None:
    """The lines around `file:line` from the first folder that has the file, or None."""
    for folder in dirs:
        path = folder / file
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        if not 1 <= line <= len(text):
            return None
        first, last = max(1, line - context), min(len(text), line + context)
        return Excerpt(file, line, str(path), tuple((n, text[n - 1]) for n in range(first, last + 1)))
    return None
