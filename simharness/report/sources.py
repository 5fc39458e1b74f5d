"""Source excerpts for the await points that raced, read at generation time if present.

Trace labels name files by base name ("race.py:21"), so a file is looked for in a
few folders (the folders given, the current folder, scenarios/, and the target's own
folder when it lies under the current folder). A report made on a machine without the
sources simply has no excerpts.

A result document may come from anywhere: a label is only ever a base name ending in
`.py` (no folder, no `..`, no absolute path), and the file it names must resolve,
symlinks followed, to a file inside the folder searched. So a crafted document cannot
make the report embed lines of any other file of the machine that renders it.
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
    here = Path.cwd().resolve()
    if target:
        path = Path(target.partition("::")[0])
        # The document names the target: trust its folder only below the current one.
        if path.suffix == ".py" and _inside(path.parent.resolve(), here):
            found.append(path.parent)
    found += [here, here / "scenarios"]
    unique: list[Path] = []
    for folder in found:
        resolved = folder.resolve()
        if resolved not in unique:
            unique.append(resolved)
    return tuple(unique)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def safe_name(file: str) -> bool:
    """Whether a label's file part may be looked up: a plain `NAME.py`, nothing else."""
    return (isinstance(file, str) and file.endswith(".py") and Path(file).name == file
            and "/" not in file and "\\" not in file and not file.startswith(".") and "\0" not in file)


def excerpt(file: str, line: int, dirs: Sequence[Path], context: int = CONTEXT_LINES) -> Excerpt | None:
    """The lines around `file:line` from the first folder that has the file, or None."""
    if not safe_name(file) or not isinstance(line, int) or line < 1:
        return None
    for folder in dirs:
        root = Path(folder).resolve()
        path = (root / file).resolve()
        if not _inside(path, root) or not path.is_file():
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
