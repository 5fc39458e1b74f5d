"""Leak detection for real runs: what a run left behind in its worker process.

Before a run the worker takes a `Snapshot` (open file descriptors, OS threads); after
it, `find_leaks` lists every process descended from the worker that is still alive,
every new file descriptor (sockets and listening ports included), every new thread
still running, and anything left in the run's temporary directory. Leaked processes
are killed (their whole group) so nothing of the run outlives it. The worker is a
child subreaper, so a grandchild orphaned by its parent is reparented to the worker
and still found here instead of escaping to init.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class ProcessInfo:
    """A process seen in /proc: pid, parent, state letter and command line."""

    pid: int
    ppid: int
    state: str
    command: str


@dataclass(frozen=True)
class Snapshot:
    """What the worker had open before a run."""

    fds: frozenset[int]
    tasks: frozenset[int]  # native thread ids (/proc/self/task)


def become_subreaper() -> bool:
    """Make orphaned descendants of this process reparent to it (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _open_fds() -> frozenset[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the descriptor listdir itself used, already closed
        found.add(fd)
    return frozenset(found)


def _tasks() -> frozenset[int]:
    return frozenset(int(t) for t in os.listdir("/proc/self/task"))


def snapshot() -> Snapshot:
    """Descriptors and threads open right now."""
    return Snapshot(fds=_open_fds(), tasks=_tasks())


def _process(pid: int) -> ProcessInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode(errors="replace")
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    name = text[text.find("(") + 1:text.rfind(")")]
    return ProcessInfo(pid=pid, ppid=int(fields[1]), state=fields[0], command=command or f"[{name}]")


def descendants(root: int) -> list[ProcessInfo]:
    """Every process below `root` in the process tree, found by scanning /proc."""
    children: dict[int, list[ProcessInfo]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = _process(int(name))
            if info is not None:
                children.setdefault(info.ppid, []).append(info)
    found: list[ProcessInfo] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child.pid)
    return found


def kill_tree(root: int) -> None:
    """SIGKILL every descendant of `root` and the groups they lead (never `root`'s own group)."""
    try:
        own_group = os.getpgid(root)
    except ProcessLookupError:
        own_group = -1
    for info in descendants(root):
        try:
            group = os.getpgid(info.pid)
            if group not in (own_group, os.getpgrp()):
                os.killpg(group, signal.SIGKILL)
            os.kill(info.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _reap_zombies() -> None:
    # Orphans reparented to us (we are a subreaper) become our zombies when they exit.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _living_descendants() -> list[ProcessInfo]:
    return [p for p in descendants(os.getpid()) if p.state not in ("Z", "X")]


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


@dataclass(frozen=True)
class LeakReport:
    """What a run left behind; `lasting` is True when the worker cannot undo it itself."""

    found: tuple[str, ...] = ()
    lasting: bool = False


def find_leaks(before: Snapshot, temp_dir: Path, grace_s: float = 0.5) -> LeakReport:
    """Describe what the run left behind, kill its leftover processes, reap zombies.

    A process or thread gets `grace_s` to finish on its own (a child killed at the end
    of the run may still be exiting); descriptors and temporary files get none.
    """
    deadline = time.monotonic() + grace_s
    while True:
        _reap_zombies()
        living = _living_descendants()
        new_tasks = _tasks() - before.tasks
        if (not living and not new_tasks) or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    found: list[str] = []
    lasting = False
    for info in living:
        found.append(f"process {info.pid} still running after the run: {info.command[:120]}")
    if living:
        kill_tree(os.getpid())
        time.sleep(0.05)
        _reap_zombies()
    if new_tasks:
        lasting = True  # a thread cannot be killed: only the worker's exit ends it
        names = {t.native_id: t.name for t in threading.enumerate()}
        for native in sorted(new_tasks):
            found.append(f"thread {names.get(native, f'native {native}')!r} still running after the run")
    for fd in sorted(_open_fds() - before.fds):
        lasting = True  # closing it under its owner's feet could corrupt the next run
        found.append(f"file descriptor {fd} still open after the run: {_fd_target(fd)}")
    if temp_dir.is_dir():
        left = sorted(p.name for p in temp_dir.iterdir())
        if left:
            found.append(f"temporary files left in the run's temp dir: {', '.join(left[:5])}")
    return LeakReport(tuple(found), lasting)
