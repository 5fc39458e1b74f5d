"""hung-flow-no-timeout: a hung child holds its semaphore slot and the run set never ends.

Seed: ../shared/seeds/001_15ce1f2008a29817.txt, review finding "[MAJOR]
proc.communicate() has no timeout - a hung subprocess blocks the run-set forever"
(parallel.py:236, rounds 1-9), and the round-2..8 finding "[MAJOR]
flow_timeout_seconds=None passed explicitly disables the 900 s guard" (cli.py:130).

The dispatcher runs one child process per flow under `asyncio.Semaphore(concurrency)`
and `asyncio.gather`. One flow's child hangs (a browser waiting for a navigation that
never completes). Two buggy variants:

* `buggy`: round 1, `await proc.communicate()` with no timeout at all;
* `buggy-cli-none`: the dispatcher has `flow_timeout_seconds: float | None = 900.0`
  ("None disables"), and the CLI forwards `flow_timeout_seconds=args.flow_timeout_seconds`
  unconditionally: the option's argparse default `None` overrides the 900 s default.

The fix: `asyncio.wait_for(proc.communicate(), timeout)` and, on timeout, kill the
child (guarding `ProcessLookupError`), drain its pipes and report the flow as timed
out; the CLI forwards only options the user gave (sparse kwargs).

The seed's 900 s default is scaled down to `DEFAULT_FLOW_TIMEOUT_S` (1 s) so a real run
is short; in simulation the hung child keeps running on the virtual clock and the
timeout fires at its virtual deadline.

Oracle: the run set finishes within its budget (`RUN_SET_BUDGET_S`, virtual time in
simulation) and the hung flow is reported as a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import simharness as sh

#: The seed's `flow_timeout_seconds` default (900 s), scaled down for real runs.
DEFAULT_FLOW_TIMEOUT_S = 1.0
#: How long the whole run set may take: the timeout plus ample room for the fast flows.
RUN_SET_BUDGET_S = 3.0
CONCURRENCY = 2
#: Its children either finish at once or block until something outside acts, and simproc
#: counts a silent child as hung only once its whole session is idle, so a short settle
#: window is safe here; it makes each simulated run ~0.1 s instead of ~0.5 s.
SETTLE_S = 0.05

#: What each flow's child process does (the real dispatcher runs `im2be-qa-rig run`).
FAST_FLOW = "import json, sys; print(json.dumps({'passed': True, 'flow': sys.argv[1]}))"
HUNG_FLOW = "import time; time.sleep(3600)"
FLOWS: tuple[tuple[str, str], ...] = (
    ("checkout", FAST_FLOW), ("login-oauth", HUNG_FLOW), ("search", FAST_FLOW), ("profile", FAST_FLOW),
)


@dataclass(frozen=True)
class FlowDispatchResult:
    """One flow's outcome in the run-set report."""

    slug: str
    passed: bool
    error: str | None = None


@dataclass
class RunSetState:
    """Every child this run started, so the scenario can clean up after a buggy run."""

    processes: list[asyncio.subprocess.Process] = field(default_factory=list)


Communicate = Callable[[asyncio.subprocess.Process, "float | None"], Awaitable[tuple[bytes, bytes]]]


async def communicate_unbounded(proc: asyncio.subprocess.Process, timeout: float | None) -> tuple[bytes, bytes]:
    """Round 1 (the bug): wait for the child however long it takes."""
    return await proc.communicate()


async def communicate_none_disables(proc: asyncio.subprocess.Process,
                                    timeout: float | None) -> tuple[bytes, bytes]:
    """Rounds 2-8: a timeout, unless the caller passes None ("pass None to disable")."""
    if timeout is not None:
        return await asyncio.wait_for(proc.communicate(), timeout=timeout)
    return await proc.communicate()


async def communicate_bounded(proc: asyncio.subprocess.Process, timeout: float | None) -> tuple[bytes, bytes]:
    """The fix: always bounded (None falls back to the default)."""
    return await asyncio.wait_for(proc.communicate(), timeout=timeout or DEFAULT_FLOW_TIMEOUT_S)


async def _run_one(slug: str, program: str, semaphore: asyncio.Semaphore, state: RunSetState,
                   communicate: Communicate, flow_timeout_seconds: float | None) -> FlowDispatchResult:
    async with semaphore:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", program, slug,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        state.processes.append(proc)
        try:
            stdout, _ = await communicate(proc, flow_timeout_seconds)
        except asyncio.TimeoutError:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.communicate()  # drain the pipes
            return FlowDispatchResult(slug, False, f"timeout after {flow_timeout_seconds:g}s")
        report = json.loads(stdout or b"{}")
        return FlowDispatchResult(slug, bool(report.get("passed")), None if report else "no report")


async def dispatch_run_set(state: RunSetState, communicate: Communicate, *, concurrency: int = 4,
                           flow_timeout_seconds: float | None = DEFAULT_FLOW_TIMEOUT_S) -> list[FlowDispatchResult]:
    semaphore = asyncio.Semaphore(concurrency)
    return list(await asyncio.gather(*(
        _run_one(slug, program, semaphore, state, communicate, flow_timeout_seconds) for slug, program in FLOWS)))


def cli_forward_all(args: argparse.Namespace) -> dict[str, Any]:
    """cli.py before round 8: forwards the option even when the user did not give it."""
    return {"concurrency": args.concurrency, "flow_timeout_seconds": args.flow_timeout_seconds}


def cli_sparse(args: argparse.Namespace) -> dict[str, Any]:
    """The fix (round 8): forward only options the user actually gave."""
    kwargs: dict[str, Any] = {}
    if args.concurrency is not None:
        kwargs["concurrency"] = args.concurrency
    if args.flow_timeout_seconds is not None:
        kwargs["flow_timeout_seconds"] = args.flow_timeout_seconds
    return kwargs


def parse_cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="im2be-qa-rig run-set")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--flow-timeout-seconds", type=float, default=None,
                        help="None defers to dispatch default")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Dispatcher:
    """One version of the seed's code: how the CLI forwards options, how a flow is awaited."""

    cli: Callable[[argparse.Namespace], dict[str, Any]]
    communicate: Communicate


async def _cleanup(state: RunSetState) -> None:
    """Kill children a buggy run left behind, so no run outlives its scenario."""
    for proc in state.processes:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.wait()


@sh.scenario(variants={"buggy": Dispatcher(cli_sparse, communicate_unbounded),
                       "buggy-cli-none": Dispatcher(cli_forward_all, communicate_none_disables),
                       "fixed": Dispatcher(cli_sparse, communicate_bounded)},
             expect={"buggy": "fail", "buggy-cli-none": "fail", "fixed": "pass"},
             process_settle_s=SETTLE_S,
             bug={"kind": "assertion", "message": "run set did not finish within its .* budget: the hung flow held its semaphore slot"},
             deterministic=True)  # a hung child always holds its slot
async def hung_flow_no_timeout(dispatcher: Dispatcher) -> None:
    """`run-set --concurrency 2` with one hung flow: it must end in budget, reporting a timeout."""
    state = RunSetState()
    kwargs = dispatcher.cli(parse_cli(["--concurrency", str(CONCURRENCY)]))
    try:
        results = await asyncio.wait_for(dispatch_run_set(state, dispatcher.communicate, **kwargs),
                                         RUN_SET_BUDGET_S)
    except asyncio.TimeoutError:
        why = ("the CLI passed flow_timeout_seconds=None explicitly, disabling the default timeout"
               if "flow_timeout_seconds" in kwargs and kwargs["flow_timeout_seconds"] is None
               else "proc.communicate() has no timeout")
        raise AssertionError(f"run set did not finish within its {RUN_SET_BUDGET_S:g} s budget: the hung "
                             f"flow held its semaphore slot forever ({why})") from None
    finally:
        await _cleanup(state)
    by_slug = {result.slug: result for result in results}
    hung = by_slug["login-oauth"]
    assert hung.error == f"timeout after {DEFAULT_FLOW_TIMEOUT_S:g}s", f"hung flow not reported as a timeout: {hung}"
    others = [r for r in results if r.slug != "login-oauth" and not r.passed]
    assert not others, f"fast flows failed: {others}"
