"""orphan-grandchildren: killing a timed-out child leaves its own children running.

Seed: ../shared/seeds/001_15ce1f2008a29817.txt, review finding "[MAJOR]
create_subprocess_exec without start_new_session=True - proc.kill() on timeout orphans
Playwright/Chromium grandchildren": "SIGKILL is sent only to the direct child PID.
Chromium is reparented to init and keeps running."

Each flow's child starts a long-running grandchild (the browser, here `sleep`), reports
its pid on its progress stream, and then hangs. The dispatcher's timeout fires; the buggy version
kills the child alone, so the grandchild survives the run set. The fix starts the child
in a new session (its own process group) and kills the whole group with `os.killpg`.

In simulation the hung children keep running on the virtual clock and the timeout fires
at its virtual deadline (simproc always starts children in a new session, so it can
clean up after a run; the buggy `proc.kill()` still reaches the child alone).

Oracle: no process of the run survives it: neither the children nor the grandchildren
whose pids they reported exist once the run set has returned (checked with
`os.kill(pid, 0)`; a zombie awaiting its reaper counts as gone).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import simharness as sh

#: The seed's 900 s flow timeout, scaled down for real runs.
FLOW_TIMEOUT_S = 1.0
#: The flow's child: start a browser-like grandchild, report its pid on the progress
#: stream (stderr, piped live as in the seed), then hang.
FLOW_WITH_BROWSER = (
    "import json, subprocess, sys, time\n"
    "browser = subprocess.Popen(['sleep', '3600'], stdin=subprocess.DEVNULL,\n"
    "                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(json.dumps({'browser_pid': browser.pid}), file=sys.stderr, flush=True)\n"
    "time.sleep(3600)\n"
)
FLOWS = ("checkout", "search")
#: Its children either finish at once or block until something outside acts, and simproc
#: counts a silent child as hung only once its whole session is idle, so a short settle
#: window is safe here; it makes each simulated run ~0.1 s instead of ~0.5 s.
SETTLE_S = 0.05


@dataclass(frozen=True)
class FlowDispatchResult:
    """One flow's outcome in the run-set report."""

    slug: str
    passed: bool
    error: str | None = None
    pids: tuple[int, ...] = ()   # the child and every grandchild it reported


@dataclass(frozen=True)
class ProcessHandling:
    """How the dispatcher starts a child and kills it on timeout."""

    new_session: bool
    kill: Callable[[asyncio.subprocess.Process], None]


def kill_child(proc: asyncio.subprocess.Process) -> None:
    """The bug: SIGKILL to the direct child only."""
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def kill_process_group(proc: asyncio.subprocess.Process) -> None:
    """The fix: the child leads its own group (new session); kill the whole group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def _run_one(slug: str, handling: ProcessHandling, started: list[int]) -> FlowDispatchResult:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", "-c", FLOW_WITH_BROWSER, slug,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=handling.new_session)
    assert proc.stderr is not None
    # Live progress: the child's first line names the browser it started.
    progress = await proc.stderr.readline()
    reported = [json.loads(progress)["browser_pid"]] if progress.strip() else []
    started.extend(reported)
    try:
        await asyncio.wait_for(proc.communicate(), timeout=FLOW_TIMEOUT_S)
        error = None
    except asyncio.TimeoutError:
        handling.kill(proc)
        await proc.communicate()  # drain the pipes
        error = f"timeout after {FLOW_TIMEOUT_S:g}s"
    return FlowDispatchResult(slug, error is None, error, (proc.pid, *reported))


def _exists(pid: int) -> bool:
    """True while `pid` is a live process (zombies waiting to be reaped count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _is_our_browser(pid: int) -> bool:
    """True if `pid` is alive and still runs the grandchild command this scenario started."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return _exists(pid) and cmdline.read() == b"sleep\x003600\x00"
    except OSError:
        return False


def survivors(pids: list[int], wait_s: float = 1.0) -> list[int]:
    """The pids still alive after giving SIGKILLed processes `wait_s` of real time to die."""
    # Bounded by iterations, not a deadline: in simulation the clock functions are virtual.
    for _ in range(int(wait_s / 0.01)):
        alive = [pid for pid in pids if _exists(pid)]
        if not alive:
            return []
        time.sleep(0.01)
    return [pid for pid in pids if _exists(pid)]


@sh.scenario(variants={"buggy": ProcessHandling(False, kill_child),
                       "fixed": ProcessHandling(True, kill_process_group)},
             expect={"buggy": "fail", "fixed": "pass"}, process_settle_s=SETTLE_S,
             bug={"kind": "assertion", "message": "orphaned grandchildren"},
             deterministic=True)  # killing the child alone always leaves the grandchild
async def orphan_grandchildren(handling: ProcessHandling) -> None:
    """Two flows time out; afterwards no child or grandchild of theirs may be running."""
    started: list[int] = []
    try:
        results = await asyncio.gather(*(_run_one(slug, handling, started) for slug in FLOWS))
        assert all(r.error for r in results), f"the hung flows did not time out: {results}"
        pids = [pid for result in results for pid in result.pids]
        assert len(pids) == 2 * len(FLOWS), f"a flow did not report its browser's pid: {results}"
        left = await asyncio.to_thread(survivors, pids)
    finally:
        # Clean up before reporting, and also when the run is cut short (a cancelled or
        # aborted run): the scenario itself must not leak the processes it found.
        for pid in started:
            if _is_our_browser(pid):  # never signal a recycled pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert not left, (f"orphaned grandchildren: {len(left)} process(es) of the run survived it "
                      f"(pids {left}); proc.kill() reached only the direct child")
