"""Background CPU load for `--load N`: N busy-looping processes for the run's duration.

Each burner is its own session, so it can be killed with its group and never
outlives the stress run (the orchestrator stops them in a `finally`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import TracebackType

_BURN = "while True:\n    pass\n"


class CpuLoad:
    """Context manager starting `count` CPU burners and killing them on exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> CpuLoad:
        for _ in range(self.count):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", _BURN], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        self.processes.clear()
