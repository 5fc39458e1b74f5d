"""The transports of a real child process under the controlled loop.

`ChildTransport` is the `asyncio.SubprocessTransport` a `SubprocessProtocol` (and so
`asyncio.subprocess.Process`) talks to; its pipes (`process_pipes`) are its stdout,
stderr and stdin. It holds the child's raw state; `processes.ChildSource` decides
when what it reads is delivered (see its docstring).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import time
from typing import IO, TYPE_CHECKING

from simharness.world.process_pipes import ReadPipe, WritePipe
from simharness.world.procstat import PGRP, STATE, process_stats
from simharness.engine.realtime import monotonic as _real_monotonic


if TYPE_CHECKING:
    from simharness.world.processes import ChildSource

_STREAMS = {1: "stdout", 2: "stderr"}


def _close_quietly(stream: IO[bytes] | None) -> None:
    """Close our end of one of the child's pipes; it may be gone already."""
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


def group_alive(pgid: int) -> bool:
    """True while a process of group `pgid` is alive (zombies count as dead)."""
    return any(f[PGRP] == str(pgid) and f[STATE] not in ("Z", "X") for f in process_stats())


class ChildTransport(asyncio.SubprocessTransport):
    """One child process: the `SubprocessTransport` the protocol talks to, and its raw state."""

    def __init__(self, source: ChildSource, number: int, proc: subprocess.Popen[bytes],
                 protocol: asyncio.SubprocessProtocol, command: str) -> None:
        super().__init__()
        self.source, self.number, self.proc, self.protocol = source, number, proc, protocol
        self.name = f"proc-{number}"
        self.command = command
        self.pid: int = proc.pid
        self.returncode: int | None = None    # as delivered to the loop
        self.exit_status: int | None = None   # as reaped from the OS
        self.exit_posted = False
        self.hung = False
        self.last_activity = 0.0
        self.cpu_seen = -1                    # CPU ticks of its session at the last look
        self.read_fds: dict[int, int] = {}    # stream number -> fd, while open
        self.buffers: dict[int, bytearray] = {}
        self.eof_pending: list[int] = []
        self.pipes: dict[int, asyncio.BaseTransport] = {}
        self.pipes_open: list[int] = []
        self.stdin_fd: int | None = None
        self.stdin_buffer = bytearray()
        self.stdin_lost_posted = False
        self.exit_waiters: list[asyncio.Future[int]] = []
        self.closed = False
        self.finished = False
        self.exit_reported = False  # process_exited() was called (see _try_finish)
        try:
            self.pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        for number_, stream in ((1, proc.stdout), (2, proc.stderr)):
            if stream is not None:
                fd = stream.fileno()
                os.set_blocking(fd, False)
                self.read_fds[number_] = fd
                self.buffers[number_] = bytearray()
                self.pipes[number_] = ReadPipe(self, number_)
                self.pipes_open.append(number_)
        if proc.stdin is not None:
            self.stdin_fd = proc.stdin.fileno()
            os.set_blocking(self.stdin_fd, False)
            self.pipes[0] = WritePipe(self)
            self.pipes_open.append(0)

    # ----- SubprocessTransport --------------------------------------------------------
    def get_pid(self) -> int:
        return self.pid

    def get_returncode(self) -> int | None:
        return self.returncode

    def get_pipe_transport(self, fd: int) -> asyncio.BaseTransport | None:
        return self.pipes.get(fd)

    def send_signal(self, sig: int) -> None:
        # As asyncio's own transport: once the exit and the pipes' ends were delivered,
        # the process is gone and signalling it raises ProcessLookupError.
        if self.finished:
            raise ProcessLookupError()
        if self.exit_status is None:  # never signal a reaped pid: it may belong to someone else
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            self.poke()

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for pipe in self.pipes.values():
            pipe.close()
        if self.exit_status is None:  # like asyncio: closing the transport kills a running child
            self.kill()

    async def _wait(self) -> int:
        """Process.wait(): the return code once exit and every pipe's end were delivered."""
        if self.returncode is not None:
            return self.returncode
        waiter: asyncio.Future[int] = self.source.loop.create_future()
        self.exit_waiters.append(waiter)
        return await waiter

    # ----- raw state (loop thread) ----------------------------------------------------
    def poke(self) -> None:
        """The scenario did something the child may react to: watch it at the next settle."""
        self.hung = False

    def flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        try:
            while self.stdin_buffer:
                written = os.write(fd, self.stdin_buffer)
                del self.stdin_buffer[:written]
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError) as error:
            self.stdin_buffer.clear()
            self._close_stdin(error)
            return
        pipe = self.pipes[0]
        if pipe.is_closing():
            self._close_stdin(None)

    def _close_stdin(self, error: BaseException | None) -> None:
        if self.stdin_fd is None:
            return
        self.stdin_fd = None  # nothing more is written
        self.pipes[0].close()
        # As asyncio's pipe transport: the descriptor is closed on the next iteration
        # (its connection_lost), and the loss reported on the one after (the subprocess
        # transport's own call_soon). So `transport.close()` kills a running child before
        # it can see end of file on stdin and exit by itself.
        loop = self.source.loop
        loop.call_soon(self._release_stdin, error)

    def _release_stdin(self, error: BaseException | None) -> None:
        _close_quietly(self.proc.stdin)
        self.source.loop.call_soon(self._pipe_lost, 0, error)

    def close_read(self, number: int) -> None:
        """The parent closed its end of stdout/stderr: nothing more is read from it."""
        fd = self.read_fds.pop(number, None)
        if fd is None:
            return  # already at end of file: its loss is (or was) delivered as an event
        _close_quietly(self.proc.stdout if number == 1 else self.proc.stderr)
        self.buffers[number] = bytearray()
        # Reported two iterations later, as by asyncio's pipe transport (its
        # connection_lost, then the subprocess transport's own call_soon).
        loop = self.source.loop
        loop.call_soon(loop.call_soon, self._pipe_lost, number, None)

    def stdin_reader_gone(self) -> bool:
        """True when nobody holds the read end of the child's stdin any more."""
        if self.stdin_fd is None or self.stdin_lost_posted:
            return False
        poller = select.poll()
        poller.register(self.stdin_fd, select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))

    def _stdin_lost(self) -> None:
        # The child (and whoever shared its stdin) went away: as asyncio's write pipe,
        # which watches its fd for this, the pipe is lost with BrokenPipeError only if
        # data was still waiting to be written.
        error = BrokenPipeError() if self.stdin_buffer else None
        self.stdin_buffer.clear()
        if self.stdin_fd is None:
            return
        self.stdin_fd = None
        self.pipes[0].close()
        _close_quietly(self.proc.stdin)
        self._pipe_lost(0, error)

    def collect(self, number: int) -> bool:
        """Read what stream `number` has now; False at end of file."""
        fd = self.read_fds[number]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if data:
            self.buffers[number] += data
            return True
        del self.read_fds[number]
        self.eof_pending.append(number)
        return False

    def reap(self) -> None:
        status = self.proc.poll()
        if status is not None and self.exit_status is None:
            self.exit_status = status
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None

    @property
    def done(self) -> bool:
        return self.exit_status is not None and not self.read_fds

    # ----- delivery (loop thread, as released events) --------------------------------
    def post(self) -> int:
        """Offer what was read and reaped since the last settle as events; return how many."""
        loop = self.source.loop
        posted = 0
        for number in sorted(self.buffers):
            stream, data = _STREAMS[number], self.buffers[number]
            key = f"{self.name}:{stream}"
            if data:
                self.buffers[number] = bytearray()
                loop.post_event("process", key, f"{self.name} {stream}: {len(data)} bytes",
                                self._deliver, number, bytes(data))
                posted += 1
            if number in self.eof_pending:
                self.eof_pending.remove(number)
                loop.post_event("process", key, f"{self.name} {stream}: end of file",
                                self._pipe_lost, number, None)
                posted += 1
        if self.stdin_reader_gone():
            self.stdin_lost_posted = True
            loop.post_event("process", f"{self.name}:stdin", f"{self.name} stdin: closed by the child",
                            self._stdin_lost)
            posted += 1
        if self.exit_status is not None and not self.exit_posted:
            self.exit_posted = True
            loop.post_event("process", f"{self.name}:exit",
                            f"{self.name} exited with {self.exit_status}", self._exited, self.exit_status)
            posted += 1
        return posted

    def _deliver(self, number: int, data: bytes) -> None:
        if self.pipes[number].is_closing():
            return  # the parent closed its end: asyncio stops reading it at once
        self.protocol.pipe_data_received(number, data)

    def _pipe_lost(self, number: int, error: BaseException | None) -> None:
        if number not in self.pipes_open:
            return  # closed by the parent after its end of file was already on its way
        self.pipes_open.remove(number)
        self.protocol.pipe_connection_lost(number, error)
        self._try_finish()

    def _exited(self, status: int) -> None:
        # As asyncio's BaseSubprocessTransport._process_exited: the return code is known
        # at once (wait() returns it without waiting), but process_exited() and the end
        # of the connection come on the next iteration (its own call_soon), so there is
        # an iteration where the child is reaped and Process.kill() still does not raise.
        self.returncode = status
        self.source.loop.call_soon(self._exit_delivered)

    def _exit_delivered(self) -> None:
        self.exit_reported = True
        self.protocol.process_exited()
        self._try_finish()

    def _try_finish(self) -> None:
        # As asyncio's BaseSubprocessTransport: connection_lost and wait() only after
        # the exit and the end of every pipe were delivered.
        # The exit counts once process_exited() was called: asyncio queues that call
        # before connection_lost(), whatever order the exit and the pipes' ends came in.
        if self.finished or not self.exit_reported or self.pipes_open:
            return
        self.finished = True
        self.protocol.connection_lost(None)
        for waiter in self.exit_waiters:
            if not waiter.cancelled():
                waiter.set_result(self.returncode)
        self.exit_waiters.clear()

    def destroy(self) -> None:
        """End of run: kill the whole process group, reap, release descriptors."""
        try:
            # Always: a grandchild may live on in the group after the child exited.
            # While any member lives, the kernel does not reuse the group's id.
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
        # SIGKILL is delivered asynchronously: on a loaded machine a grandchild can still
        # be alive a moment later. The run is not over until none of its group lives.
        deadline = _real_monotonic() + 5.0
        while group_alive(self.pid) and _real_monotonic() < deadline:
            time.sleep(0.005)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.read_fds.clear()
