"""Real child processes under the controlled loop (`create_subprocess_exec` / `_shell`).

Children are real processes; what the loop sees of them is made deterministic:

* **Settling.** Before each decision the loop asks every `ExternalSource` to settle.
  `ChildSource.settle` waits (real time, zero virtual time) until every child it is
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
import select
import selectors
import subprocess
from collections.abc import Callable
from typing import Any

from simharness.engine.loop import ControlledLoop
from simharness.world.procstat import SESSION, STATE, STIME, UTIME, process_stats
from simharness.world.process_transport import ChildTransport
from simharness.engine.realtime import monotonic as _real_monotonic

DEFAULT_SETTLE_S = 0.3


def session_activity(sessions: list[int]) -> dict[int, tuple[int, bool]]:
    """For each session: CPU ticks its processes used so far, and whether one is running.

    Read from /proc (Linux) in one scan: a process in state R (running) or D (in an
    uninterruptible wait, usually disk) is still doing work; the tick total shows work
    done since the last look. Elsewhere (no /proc) a silent child counts as idle.
    """
    wanted = {str(session): session for session in sessions}
    found = {session: (0, False) for session in sessions}
    for fields in process_stats():
        session = wanted.get(fields[SESSION])
        if session is not None:
            ticks, running = found[session]
            found[session] = (ticks + int(fields[UTIME]) + int(fields[STIME]),
                              running or fields[STATE] in ("R", "D"))
    return found


def _has_output(child: ChildTransport) -> bool:
    """True when the child wrote something not read yet (it acted: not hung)."""
    fds = list(child.read_fds.values())
    return bool(fds) and bool(select.select(fds, [], [], 0)[0])


def _exited(pid: int) -> bool:
    """True when process `pid` has exited and waits to be reaped (state Z in /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class ChildSource:
    """The children of one run: an `ExternalSource` of its loop."""

    def __init__(self, loop: ControlledLoop) -> None:
        self.loop = loop
        self.children: list[ChildTransport] = []
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

    def _watch(self, watched: list[ChildTransport], timeout_s: float) -> str | None:
        """Read and reap until each child is done or silent for the window."""
        start = _real_monotonic()
        deadline = start + timeout_s
        activity = session_activity([c.pid for c in watched])
        for child in watched:
            child.last_activity = start
            child.cpu_seen = activity[child.pid][0]
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
                        # Silent is not hung while the child's session still runs: a child
                        # slow to start on a loaded machine must not time out for nothing.
                        # Nor is a child that has just exited (a zombie not yet reaped): on
                        # a loaded machine its exit can come after the window, and its exit
                        # and end of output must be delivered now, not after virtual time moved.
                        cpu, running = session_activity([child.pid])[child.pid]
                        if running or cpu != child.cpu_seen or _exited(child.pid) or _has_output(child):
                            child.cpu_seen = cpu
                            child.last_activity = now
                        else:
                            child.hung = True
                            watched.remove(child)
                if not watched:
                    return None
                if now >= deadline:
                    return f"{watched[0].name} ({watched[0].command}) kept running (output or CPU)"
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


_current: ChildSource | None = None


def _children_of(loop: ControlledLoop) -> ChildSource:
    global _current
    if _current is None or _current.loop is not loop:
        _current = ChildSource(loop)
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
           kwargs: dict[str, Any]) -> tuple[ChildTransport, asyncio.SubprocessProtocol]:
    source = _children_of(loop)
    kwargs.pop("start_new_session", None)
    kwargs.pop("process_group", None)
    proc = subprocess.Popen(args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr, bufsize=0,
                            start_new_session=True, **kwargs)
    protocol = protocol_factory()
    child = ChildTransport(source, len(source.children) + 1, proc, protocol, command)
    source.children.append(child)
    protocol.connection_made(child)
    return child, protocol


async def subprocess_exec(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
                          program: Any, *args: Any, stdin: Any = subprocess.PIPE,
                          stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
                          universal_newlines: bool = False, shell: bool = False, bufsize: int = 0,
                          encoding: Any = None, errors: Any = None, text: Any = None,
                          **kwargs: Any) -> tuple[ChildTransport, asyncio.SubprocessProtocol]:
    """`loop.subprocess_exec` in simulation: a real child whose I/O and exit are events."""
    _check_args(universal_newlines, shell, bufsize, text, encoding, errors)
    argv = (program, *args)
    command = " ".join(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv)
    return _spawn(loop, protocol_factory, argv, False, stdin, stdout, stderr, command, kwargs)


async def subprocess_shell(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
                           cmd: Any, *, stdin: Any = subprocess.PIPE, stdout: Any = subprocess.PIPE,
                           stderr: Any = subprocess.PIPE, universal_newlines: bool = False,
                           shell: bool = True, bufsize: int = 0, encoding: Any = None, errors: Any = None,
                           text: Any = None, **kwargs: Any) -> tuple[ChildTransport, asyncio.SubprocessProtocol]:
    """`loop.subprocess_shell` in simulation (`/bin/sh -c cmd`)."""
    if not isinstance(cmd, (bytes, str)):
        raise ValueError("cmd must be a string")
    if not shell:
        raise ValueError("shell must be True")
    _check_args(universal_newlines, False, bufsize, text, encoding, errors)
    command = os.fsdecode(cmd) if isinstance(cmd, bytes) else cmd
    return _spawn(loop, protocol_factory, cmd, True, stdin, stdout, stderr, command, kwargs)
