"""Durable evidence: the JSON-lines log and atomic file writes.

Each record is written as one line and flushed and fsynced before the writer returns,
so a stress run that is interrupted or killed keeps every record it finished. Summary
files are written to a temporary file in the same folder and moved into place with
`os.replace`, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from simharness.errors import ConfigError
from simharness.explore.serialize import to_jsonable


class EvidenceLog:
    """Append-only JSON-lines file, safe to write from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "ab")
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(to_jsonable(record), sort_keys=True) + "\n").encode()
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (temp file + fsync + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            # mkstemp makes the file private (0600); a report is an ordinary file: umask mode.
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def check_writable(folder: Path) -> None:
    """Raise `ConfigError` unless files can be written into `folder` (created if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".simharness-probe-", dir=folder)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        reason = ("a file is in the way where a folder is needed"
                  if isinstance(error, (FileExistsError, NotADirectoryError)) else error.strerror or str(error))
        raise ConfigError(f"cannot write reports into {folder}: {reason}") from None
