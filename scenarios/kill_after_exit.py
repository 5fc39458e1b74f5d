"""kill-after-exit: the child exits between the timeout firing and `proc.kill()`.

Seed: ../shared/seeds/001_15ce1f2008a29817.txt, review finding "[MAJOR] proc.kill() in
except asyncio.TimeoutError unprotected against ProcessLookupError" (parallel.py:260,
rounds 3-5): "raises ProcessLookupError if the subprocess has already exited in the
window between asyncio.wait_for raising TimeoutError and proc.kill() executing. That
unhandled exception escapes _run_one" and the flow's result is lost.

asyncio's `Process.kill()` raises `ProcessLookupError` once the loop has processed the
child's exit and the end of its pipes. The flow's child here finishes exactly at its
deadline: it works until told that its last page is done, and the outside world (a timer
standing in for the browser) tells it with SIGUSR1 at `FLOW_TIMEOUT_S`, the same instant
the dispatcher's timeout fires. (Not by closing its stdin: since Python 3.12
`communicate()` closes stdin at once, so the child would finish at the start.) Both
timers fall due together and fire in registration order, as on a real clock: first the
signal, then the timeout. On the stock loop the flow's task handles the timeout within
microseconds, long before the child (a real process) has printed and exited, so the
default order passes, as the stock loop does. The explorer may deliver the child's
exit and output sooner, while the loop is still busy with the timeout (a real
machine's scheduler can do that); when the exit is processed before the task's
`except TimeoutError` runs, the buggy `proc.kill()` raises.

The fix (round 7): `try: proc.kill() except ProcessLookupError: pass`.

Oracle: every flow, timed out or not, yields a `FlowDispatchResult`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

import simharness as sh

#: The seed's 900 s flow timeout, scaled down for real runs.
FLOW_TIMEOUT_S = 1.0
#: The signal that tells a flow's child its work is done.
DONE_SIGNAL = signal.SIGUSR1
#: The child works until told it is done (the signal is blocked first so that it is only
#: ever waited for, never fatal), then reports.
FLOW_UNTIL_TOLD = (f"import json, signal, sys; done = {{signal.{DONE_SIGNAL.name}}}; "
                   "signal.pthread_sigmask(signal.SIG_BLOCK, done); signal.sigwait(done); "
                   "print(json.dumps({'passed': True, 'flow': sys.argv[1]}))")
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


def tell_done(proc: asyncio.subprocess.Process) -> None:
    """The outside world (the browser) tells the child its last page is done.

    Not the code under test: if the flow has already been killed and reaped, there is
    no one left to tell.
    """
    try:
        proc.send_signal(DONE_SIGNAL)
    except ProcessLookupError:
        pass


def kill_unguarded(proc: asyncio.subprocess.Process) -> None:
    """Rounds 2-6 (the bug): the child may already be gone."""
    proc.kill()


def kill_guarded(proc: asyncio.subprocess.Process) -> None:
    """The fix: a child that already exited needs no kill."""
    try:
        proc.kill()
    except ProcessLookupError:
        pass


async def _run_one(slug: str, semaphore: asyncio.Semaphore,
                   kill: Callable[[asyncio.subprocess.Process], None]) -> FlowDispatchResult:
    async with semaphore:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", FLOW_UNTIL_TOLD, slug,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        # The flow's work ends exactly at its deadline (see the module docstring).
        finish = asyncio.get_running_loop().call_later(FLOW_TIMEOUT_S, tell_done, proc)
        try:
            stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=FLOW_TIMEOUT_S)
        except asyncio.TimeoutError:
            kill(proc)
            await proc.communicate()  # drain the pipes
            return FlowDispatchResult(slug, False, f"timeout after {FLOW_TIMEOUT_S:g}s")
        finally:
            finish.cancel()
        report = json.loads(stdout or b"{}")
        return FlowDispatchResult(slug, bool(report.get("passed")), None if report else "no report")


@sh.scenario(variants={"buggy": kill_unguarded, "fixed": kill_guarded},
             expect={"buggy": "fail", "fixed": "pass"}, process_settle_s=SETTLE_S,
             bug={"kind": "assertion", "message": "lost its result: ProcessLookupError escaped _run_one"})
async def kill_after_exit(kill: Callable[[asyncio.subprocess.Process], None]) -> None:
    """Two flows whose children finish at their deadline; each must still yield a result."""
    semaphore = asyncio.Semaphore(len(FLOWS))
    results = await asyncio.gather(*(_run_one(slug, semaphore, kill) for slug in FLOWS),
                                   return_exceptions=True)
    lost = [(slug, result) for slug, result in zip(FLOWS, results) if not isinstance(result, FlowDispatchResult)]
    assert not lost, "; ".join(
        f"flow {slug!r} lost its result: {type(error).__name__} escaped _run_one"
        + (" (proc.kill() after the child had already exited)" if isinstance(error, ProcessLookupError) else "")
        for slug, error in lost)
