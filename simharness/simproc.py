"""Real child processes under the controlled loop (`create_subprocess_exec` / `_shell`).

Children are real processes; what the loop sees of them is made deterministic:

* **Settling.** Before each decision the loop asks every `ExternalSource` to settle.
  `_Children.settle` waits (real time, zero virtual time) until every child it is
  watching has exited with all its pipes at end of file, or has produced nothing for
  the settle window (0.3 s, scenario option `process_settle_s`). A silent child is
  *hung*: it keeps running on the virtual clock and is not looked at again until the
  scenario writes to it, closes its stdin or signals it, or until the loop has
  nothing else to do (`idle`). So `asyncio.wait_for(proc.communicate(), 5)` around a
  child that never finishes times out at virtual 5 s, and `proc.kill()` works.
* **Events.** Everything read from a stream during one settle is delivered as one
  event (`post_event`, key `proc-N:stdout` / `proc-N:stderr`), followed by that
  stream's end of file; the exit is a separate event (`proc-N:exit`). Chunking
  therefore never depends on the OS, and the explorer may order the outputs and exits
  of different children freely, as the real runtime could.
* **Cleanup.** Children start with `start_new_session=True`; when the run ends
  (`close`) every child's process group is killed and reaped, even if the scenario
  failed midway.

Pipes are read non-blockingly by the loop thread itself (no reader threads, so the
loop's thread quiescence check is not involved). Writes to stdin are not
flow-controlled: `drain()` never waits.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from ._loop import ControlledLoop
from .realtime import monotonic as _real_monotonic

DEFAULT_SETTLE_S = 0.3
_STREAMS = {1: "stdout", 2: "stderr"}


class _ReadPipe(asyncio.ReadTransport):
    """The stdout or stderr side of a child, as the protocol's StreamReader sees it."""

    def __init__(self, child: _Child, fd: int) -> None:
        super().__init__()
        self._child, self._fd, self._reading, self._closing = child, fd, True, False

    def pause_reading(self) -> None:
        self._reading = False  # data is still delivered once per settle (bounded by the child)

    def resume_reading(self) -> None:
        self._reading = True

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True


class _WritePipe(asyncio.WriteTransport):
    """The stdin side of a child: writes go out immediately when the pipe takes them."""

    def __init__(self, child: _Child) -> None:
        super().__init__()
        self._child = child
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._child.stdin_fd is None:
            return
        self._child.stdin_buffer += data
        self._child.poke()
        self._child.flush_stdin()

    def get_write_buffer_size(self) -> int:
        return len(self._child.stdin_buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._child.poke()
            self._child.flush_stdin()

    def abort(self) -> None:
        self._child.stdin_buffer.clear()
        self.close()


class _Child(asyncio.SubprocessTransport):
    """One child process: the `SubprocessTransport` the protocol talks to, and its raw state."""

    def __init__(self, source: _Children, number: int, proc: subprocess.Popen[bytes],
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
        self.read_fds: dict[int, int] = {}    # stream number -> fd, while open
        self.buffers: dict[int, bytearray] = {}
        self.eof_pending: list[int] = []
        self.pipes: dict[int, asyncio.BaseTransport] = {}
        self.pipes_open: list[int] = []
        self.stdin_fd: int | None = None
        self.stdin_buffer = bytearray()
        self.exit_waiters: list[asyncio.Future[int]] = []
        self.closed = False
        self.finished = False
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
                self.pipes[number_] = _ReadPipe(self, number_)
                self.pipes_open.append(number_)
        if proc.stdin is not None:
            self.stdin_fd = proc.stdin.fileno()
            os.set_blocking(self.stdin_fd, False)
            self.pipes[0] = _WritePipe(self)
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
        self.stdin_fd = None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.pipes[0].close()
        # Closing our end is the loop's own act (asyncio uses call_soon for it too).
        self.source.loop.call_soon(self._pipe_lost, 0, error)

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
        if self.exit_status is not None and not self.exit_posted:
            self.exit_posted = True
            loop.post_event("process", f"{self.name}:exit",
                            f"{self.name} exited with {self.exit_status}", self._exited, self.exit_status)
            posted += 1
        return posted

    def _deliver(self, number: int, data: bytes) -> None:
        self.protocol.pipe_data_received(number, data)

    def _pipe_lost(self, number: int, error: BaseException | None) -> None:
        self.pipes_open.remove(number)
        self.protocol.pipe_connection_lost(number, error)
        self._try_finish()

    def _exited(self, status: int) -> None:
        self.returncode = status
        self.protocol.process_exited()
        self._try_finish()

    def _try_finish(self) -> None:
        # As asyncio's BaseSubprocessTransport: connection_lost and wait() only after
        # the exit and the end of every pipe were delivered.
        if self.finished or self.returncode is None or self.pipes_open:
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


class _Children:
    """The children of one run: an `ExternalSource` of its loop."""

    def __init__(self, loop: ControlledLoop) -> None:
        self.loop = loop
        self.children: list[_Child] = []
        options = getattr(loop, "scenario_options", None) or {}
        self.window_s = float(options.get("process_settle_s", DEFAULT_SETTLE_S))
        self.posted = 0  # events posted so far (idle() reports whether it added any)

    def settle(self, timeout_s: float) -> str | None:
        watched = [c for c in self.children if not c.hung and not c.done]
        for child in watched:
            child.flush_stdin()
        stuck = self._watch(watched, timeout_s) if watched else None
        for child in self.children:
            self.posted += child.post()
        return stuck

    def _watch(self, watched: list[_Child], timeout_s: float) -> str | None:
        """Read and reap until each child is done or silent for the window."""
        start = _real_monotonic()
        deadline = start + timeout_s
        for child in watched:
            child.last_activity = start
        with selectors.DefaultSelector() as selector:
            for child in watched:
                for number, fd in child.read_fds.items():
                    selector.register(fd, selectors.EVENT_READ, (child, number))
                if child.pidfd is not None:
                    selector.register(child.pidfd, selectors.EVENT_READ, (child, 0))
                if child.stdin_fd is not None and child.stdin_buffer:  # the child reads as we wait
                    selector.register(child.stdin_fd, selectors.EVENT_WRITE, (child, -1))
            while True:
                now = _real_monotonic()
                for child in list(watched):
                    if child.pidfd is None:
                        child.reap()  # no pidfd on this system: poll the exit
                    if child.done:
                        watched.remove(child)
                    elif now - child.last_activity >= self.window_s:
                        child.hung = True
                        watched.remove(child)
                if not watched:
                    return None
                if now >= deadline:
                    return f"{watched[0].name} ({watched[0].command}) kept writing output"
                wait = min(c.last_activity for c in watched) + self.window_s - now
                if any(c.pidfd is None for c in watched):
                    wait = min(wait, 0.005)
                for key, _ in selector.select(max(wait, 0.0)):
                    child, number = key.data
                    if number == -1:
                        child.flush_stdin()
                        if child.stdin_fd is None or not child.stdin_buffer:
                            selector.unregister(key.fd)
                    elif number == 0:
                        selector.unregister(key.fd)
                        child.reap()
                    elif not child.collect(number):
                        selector.unregister(key.fd)
                    child.last_activity = _real_monotonic()

    def idle(self, timeout_s: float) -> bool:
        """The loop has nothing to do: wait for a hung child to act; True if it did."""
        hung = [c for c in self.children if c.hung and not c.done]
        if not hung:
            return False
        deadline = _real_monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            for child in hung:
                for fd in child.read_fds.values():
                    selector.register(fd, selectors.EVENT_READ)
                if child.pidfd is not None:
                    selector.register(child.pidfd, selectors.EVENT_READ)
            while not selector.select(0.005 if any(c.pidfd is None for c in hung) else 0.1):
                for child in hung:
                    if child.pidfd is None:
                        child.reap()
                if any(c.exit_status is not None for c in hung) or _real_monotonic() >= deadline:
                    break
        for child in hung:
            child.poke()
        before = self.posted
        self.settle(max(deadline - _real_monotonic(), self.window_s))
        return self.posted > before

    def pending(self) -> str | None:
        running = [f"{c.name} ({c.command}) still running" for c in self.children if not c.done]
        return "; ".join(running) or None

    def close(self) -> None:
        for child in self.children:
            child.destroy()


_current: _Children | None = None


def _children_of(loop: ControlledLoop) -> _Children:
    global _current
    if _current is None or _current.loop is not loop:
        _current = _Children(loop)
        loop.add_source(_current)
    return _current


def _check_args(universal_newlines: bool, shell: bool, bufsize: int, text: Any, encoding: Any,
                errors: Any) -> None:
    # The same refusals as BaseEventLoop.subprocess_exec: pipes carry bytes.
    if universal_newlines or text:
        raise ValueError("universal_newlines and text must be False")
    if shell:
        raise ValueError("shell must be False")
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if encoding is not None or errors is not None:
        raise ValueError("encoding and errors must be None")


def _spawn(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
           args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any, command: str,
           kwargs: dict[str, Any]) -> tuple[_Child, asyncio.SubprocessProtocol]:
    source = _children_of(loop)
    kwargs.pop("start_new_session", None)
    kwargs.pop("process_group", None)
    proc = subprocess.Popen(args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr, bufsize=0,
                            start_new_session=True, **kwargs)
    protocol = protocol_factory()
    child = _Child(source, len(source.children) + 1, proc, protocol, command)
    source.children.append(child)
    protocol.connection_made(child)
    return child, protocol


async def subprocess_exec(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
                          program: Any, *args: Any, stdin: Any = subprocess.PIPE,
                          stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
                          universal_newlines: bool = False, shell: bool = False, bufsize: int = 0,
                          encoding: Any = None, errors: Any = None, text: Any = None,
                          **kwargs: Any) -> tuple[_Child, asyncio.SubprocessProtocol]:
    """`loop.subprocess_exec` in simulation: a real child whose I/O and exit are events."""
    _check_args(universal_newlines, shell, bufsize, text, encoding, errors)
    argv = (program, *args)
    command = " ".join(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv)
    return _spawn(loop, protocol_factory, argv, False, stdin, stdout, stderr, command, kwargs)


async def subprocess_shell(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
                           cmd: Any, *, stdin: Any = subprocess.PIPE, stdout: Any = subprocess.PIPE,
                           stderr: Any = subprocess.PIPE, universal_newlines: bool = False,
                           shell: bool = True, bufsize: int = 0, encoding: Any = None, errors: Any = None,
                           text: Any = None, **kwargs: Any) -> tuple[_Child, asyncio.SubprocessProtocol]:
    """`loop.subprocess_shell` in simulation (`/bin/sh -c cmd`)."""
    if not isinstance(cmd, (bytes, str)):
        raise ValueError("cmd must be a string")
    if not shell:
        raise ValueError("shell must be True")
    _check_args(universal_newlines, False, bufsize, text, encoding, errors)
    command = os.fsdecode(cmd) if isinstance(cmd, bytes) else cmd
    return _spawn(loop, protocol_factory, cmd, True, stdin, stdout, stderr, command, kwargs)
