"""The processes of this machine as Linux's /proc shows them (read-only, best effort)."""

from __future__ import annotations

import os
from collections.abc import Iterator

#: Positions in a `/proc/PID/stat` line after the command name.
STATE, PGRP, SESSION, UTIME, STIME = 0, 2, 3, 11, 12


def process_stats() -> Iterator[list[str]]:
    """The fields after the command name of each process's stat line (none without /proc)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if len(fields) > STIME:
            yield fields
