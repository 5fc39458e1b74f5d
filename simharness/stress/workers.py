"""The supervisor's handle on one worker process.

A worker runs `python -m simharness.real.worker` in a new session (so it leads its own
process group) with two private pipes. `receive` waits for one message with a
deadline; a worker that sends nothing in time is treated as hung, and `kill` ends it
with its whole process group and every descendant that moved to a group of its own.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from simharness.real.leaks import kill_tree
from simharness.real.protocol import decode, encode
from simharness.engine.realtime import monotonic


class WorkerDied(Exception):
    """The worker's result pipe closed: it exited or was killed."""


class WorkerProcess:
    """One live worker: start, send a job, receive messages, kill."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        job_read, self._job_write = os.pipe()
        self._result_read, result_write = os.pipe()
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "simharness.real.worker", str(job_read), str(result_write), str(os.getpid())],
                pass_fds=(job_read, result_write), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, env=env, close_fds=True)
        os.close(job_read)
        os.close(result_write)
        os.set_blocking(self._result_read, False)
        self._buffer = b""
        self.pid = self.process.pid
        self.exit_status: int | None = None

    def send(self, message: dict[str, Any]) -> None:
        """Write one job line (raises WorkerDied when the worker is gone)."""
        data = encode(message)
        try:
            while data:
                data = data[os.write(self._job_write, data):]
        except (BrokenPipeError, OSError) as error:
            raise WorkerDied(str(error)) from error

    def receive(self, deadline: float, poll_s: float = 0.2) -> dict[str, Any] | None:
        """The next message, or None if `deadline` (monotonic) passed first.

        Returns after at most `poll_s` with None too, so callers can check for a stop
        request; they compare the clock with their deadline themselves.
        """
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line, self._buffer = self._buffer[:newline], self._buffer[newline + 1:]
                return decode(line)
            wait = min(poll_s, deadline - monotonic())
            if wait <= 0:
                return None
            ready, _, _ = select.select([self._result_read], [], [], wait)
            if not ready:
                return None
            chunk = os.read(self._result_read, 65536)
            if not chunk:
                raise WorkerDied("result pipe closed")
            self._buffer += chunk

    def kill(self) -> None:
        """SIGKILL the worker, its process group and all its descendants; reap it."""
        kill_tree(self.pid)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Reap the worker; its exit status (negative: killed by that signal)."""
        try:
            self.exit_status = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self._close_pipes()
        return self.exit_status

    def stop(self) -> None:
        """Ask the worker to exit; kill it if it does not within a second."""
        try:
            self.send({"type": "exit"})
        except WorkerDied:
            pass
        if self.wait(1.0) is None:
            self.kill()
        else:
            # Its process group may still hold children a scenario left (the worker
            # reports and kills those itself, this is the belt to those braces).
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _close_pipes(self) -> None:
        for fd in (self._job_write, self._result_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._job_write = self._result_read = -1


def describe_exit(status: int | None) -> str:
    """`exit status 7` / `killed by SIGKILL` / `still running`."""
    if status is None:
        return "still running"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
