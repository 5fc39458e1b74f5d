"""Where a suspended task waits, read from its coroutine chain (no asyncio internals).

Used for deadlock messages, leak reports and detailed traces: the innermost frame
that belongs to the user (not asyncio, not simharness) and what it awaits.
"""

from __future__ import annotations

import asyncio
import os
import sysconfig
from typing import Any

# Frames in these folders are plumbing (the standard library, installed packages such
# as aiosqlite, simharness itself), not the user's await point.
_INTERNAL_DIRS = tuple(sorted({
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,  # simharness/
    *(sysconfig.get_paths()[key] + os.sep for key in ("stdlib", "purelib", "platlib")),
}))


def _await_chain(task: asyncio.Task[Any]) -> tuple[list[Any], Any]:
    frames: list[Any] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return frames, awaited


def describe_await(task: asyncio.Task[Any]) -> str:
    """Where a suspended task waits: "Lock.acquire() at scenario.py:14", address-free."""
    frames, awaited = _await_chain(task)
    if not frames:
        return "nothing (not started)" if not task.done() else "nothing (done)"
    filename, line, what = _point(frames, awaited)
    return f"{what} at {os.path.basename(filename)}:{line}"


def _point(frames: list[Any], awaited: Any) -> tuple[str, int, str]:
    user_frames = [f for f in frames if not f.f_code.co_filename.startswith(_INTERNAL_DIRS)] or frames
    user = user_frames[-1]
    inner = frames[-1]
    if inner is user:
        target = awaited
        if target is None:
            what = "start"
        else:
            name = type(target).__name__
            what = "Future" if name in ("FutureIter", "SimFuture") else name
    else:
        # The outermost internal frame below the user's is the API they called.
        called = frames[frames.index(user) + 1].f_code
        what = getattr(called, "co_qualname", called.co_name) + "()"
    return (user.f_code.co_filename, user.f_lineno, what)


def await_point(task: asyncio.Task[Any]) -> tuple[str, int, str]:
    """(file, line, awaited) of a suspended task's innermost user frame, for traces."""
    frames, awaited = _await_chain(task)
    if not frames:
        return ("", 0, "start")
    return _point(frames, awaited)
