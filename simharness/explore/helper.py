"""A helper process of the explorer: `python -m MODULE FD PARENT_PID ARGS...` over a socket pair.

Used for schedule workers (`worker_main`) and the Dask driver (`cluster_driver`). The
helper leads its own process group (a terminal's Ctrl-C reaches only the explorer), its
stdout goes to the explorer's stderr (whatever a scenario prints must not mix with
`--json` output), and `kill` ends its whole group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import deque
from multiprocessing.connection import Connection
from typing import Any


class Helper:
    """A helper process (`python -m MODULE FD PARENT_PID ARGS...`) in its own process group,
    talking over a socket pair; by default a schedule worker (`worker_main`)."""

    def __init__(self, module: str = "simharness.explore.worker_main", *args: str) -> None:
        mine, theirs = socket.socketpair()
        try:
            # stdout goes to our stderr: whatever a scenario prints must not mix with --json output.
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, str(theirs.fileno()), str(os.getpid()), *args],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=2, process_group=0,
                close_fds=True)
        finally:
            theirs.close()
        self.conn = Connection(mine.detach())
        self.sentinel: int | None = None
        try:
            self.sentinel = os.pidfd_open(self.process.pid)
        except (AttributeError, OSError):  # no pidfd: the socket's end of file says the same
            pass
        self.pending: deque[int] = deque()  # indices of the current batch without an outcome yet
        self.busy = False
        self.careful = False  # the current batch reports each outcome as soon as it is known
        self.died: int | None = None  # exit code of a runner the supervisor reported dead

    def waitables(self) -> list[Any]:
        return [self.conn] + ([self.sentinel] if self.sentinel is not None else [])

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def join(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def send(self, message: object) -> bool:
        try:
            self.conn.send(message)
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        pid = self.process.pid
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()  # the group too: processes the scenario started
            except (ProcessLookupError, PermissionError):
                pass
        self.join(5)
        self.conn.close()
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None


