"""gather-cancels-siblings: `asyncio.gather` without `return_exceptions=True` in the dispatcher.

Seed: 001_15ce1f2008a29817.txt, round-1 finding "[MAJOR] asyncio.gather without
return_exceptions=True - any unexpected exception cancels all running tasks"
(parallel.py:313; e.g. `FileNotFoundError` from `create_subprocess_exec` when
`sys.executable` is wrong in a CI container): the first error cancels every sibling,
their `FlowDispatchResult`s are never produced and the run-set `report.json` is never
written. Fix (the author's reply "VV"): `return_exceptions=True` and a per-task
`BaseException -> FlowDispatchResult` fallback, so the run set returns one result per spec.

Oracle: the run-set report is always written and holds exactly one result per flow.

Each flow's child process is modelled with `sh.checkpoint()` (start-up, then its run);
the broken flow's launch raises `FileNotFoundError` after its start-up checkpoint.
The report is a real file in a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simharness as sh


@dataclass
class FlowSpec:
    """One flow of a run set: its slug and the executable that runs it."""

    slug: str
    executable: str


@dataclass
class FlowDispatchResult:
    """What one flow of a run set produced."""

    slug: str
    exit_code: int | None
    error: str | None = None


async def _create_subprocess_exec(spec: FlowSpec) -> int:
    await sh.checkpoint(f"spawn {spec.slug}")
    if not spec.executable.startswith("/usr/bin/"):
        raise FileNotFoundError(2, "No such file or directory", spec.executable)
    await sh.checkpoint(f"{spec.slug} runs")
    return 0


async def _run_one(spec: FlowSpec, semaphore: asyncio.Semaphore) -> FlowDispatchResult:
    async with semaphore:
        exit_code = await _create_subprocess_exec(spec)
        return FlowDispatchResult(spec.slug, exit_code)


async def gather_bare(specs: list[FlowSpec], semaphore: asyncio.Semaphore) -> list[FlowDispatchResult]:
    """The bug: the first exception propagates and cancels every sibling."""
    return list(await asyncio.gather(*(_run_one(s, semaphore) for s in specs)))


async def gather_isolated(specs: list[FlowSpec], semaphore: asyncio.Semaphore) -> list[FlowDispatchResult]:
    """The fix: `return_exceptions=True` plus a failed result for each exception."""
    raw = await asyncio.gather(*(_run_one(s, semaphore) for s in specs), return_exceptions=True)
    results: list[FlowDispatchResult] = []
    for spec, item in zip(specs, raw):
        if isinstance(item, BaseException):
            results.append(FlowDispatchResult(spec.slug, None, f"{type(item).__name__}: {item}"))
        else:
            results.append(item)
    return results


async def dispatch_run_set(specs: list[FlowSpec], concurrency: int, gather: Any, out_dir: Path) -> None:
    """Run every flow and write the run-set report (skipped if gather raises)."""
    semaphore = asyncio.Semaphore(concurrency)
    results = await gather(specs, semaphore)
    summary = {"flows": [r.__dict__ for r in results],
               "failed": sum(1 for r in results if r.error or r.exit_code)}
    (out_dir / "report.json").write_text(json.dumps(summary))


@sh.scenario(variants={"buggy": gather_bare, "fixed": gather_isolated},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "run set aborted by .*sibling flows cancelled"},
             deterministic=True)  # one flow's error always cancels its siblings
async def gather_cancels_siblings(gather: Any) -> None:
    """Three flows, one with a missing executable: the report must list all three."""
    specs = [FlowSpec("login", "/usr/bin/python3"), FlowSpec("checkout", "/opt/ci/missing-python"),
             FlowSpec("search", "/usr/bin/python3")]
    out_dir = Path(tempfile.mkdtemp(prefix="simharness-runset-"))
    try:
        try:
            await dispatch_run_set(specs, 2, gather, out_dir)
        except Exception as error:
            raise AssertionError(f"run set aborted by {type(error).__name__}: {error}; sibling flows "
                                 "cancelled, no run-set report written") from None
        report = json.loads((out_dir / "report.json").read_text())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    assert [f["slug"] for f in report["flows"]] == [s.slug for s in specs], report
    assert report["failed"] == 1, report
