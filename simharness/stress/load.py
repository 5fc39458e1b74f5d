"""Background CPU load for `--load N`: N busy-looping processes for the run's duration.

Each burner is its own session, so it can be killed with its group. It never outlives
the stress run: the orchestrator stops the burners in a `finally`; a start-up cut short
by Ctrl-C or SIGTERM kills those already started; and if the stress process itself is
SIGKILLed, each burner dies with it (Linux: `PR_SET_PDEATHSIG`; everywhere: the burner
checks every few milliseconds that its parent is still the one that started it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import TracebackType

#: The burner program. argv[1] is the pid of the stress process that started it.
_BURN = """\
import os, signal, sys
signal.pthread_sigmask(signal.SIG_SETMASK, [])  # started with SIGINT/SIGTERM blocked
parent = int(sys.argv[1])
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
except Exception:
    pass
while os.getppid() == parent:  # orphaned (reparented): the stress run is gone
    for _ in range(200000):
        pass
"""
_DEFERRED = {signal.SIGINT, signal.SIGTERM}


class CpuLoad:
    """Context manager starting `count` CPU burners and killing them on exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> CpuLoad:
        try:
            for _ in range(self.count):
                # A signal arriving inside Popen could leave a started burner unrecorded:
                # hold SIGINT/SIGTERM until it is in the list (they are handled right after).
                previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
                try:
                    self.processes.append(subprocess.Popen(
                        [sys.executable, "-c", _BURN, str(os.getpid())], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM) or out of processes while starting: no burner
            # started so far may survive, and `__exit__` will not run for a failed enter.
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGKILL every burner (with its group) and reap it."""
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for process in self.processes:
            process.wait()
        self.processes.clear()
