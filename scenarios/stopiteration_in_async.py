"""stopiteration-in-async: `next(genexpr)` with no match inside an `async def`.

Seed: 001_15ce1f2008a29817.txt, round-1 finding "[BLOCKING] StopIteration inside async def
is promoted to RuntimeError (PEP 479) - except clause never fires" (parallel.py:259,
`_run_one` looking for `report.json` with `next(p for p in flow_dir.glob(...))` inside
`try: ... except (StopIteration, json.JSONDecodeError)`); fix: `next(..., None)`.

What is actually true (proven by tests/test_catalogue_part2a.py):

* The review's claim is wrong for the code it quotes. `next()` raises StopIteration in
  the coroutine's own frame when the generator expression is exhausted; PEP 479 only
  rewrites a StopIteration raised *inside a generator's body*. The surrounding
  `except StopIteration` fires (variant `seed-as-written`, expected to pass: the flow
  gets the error "no report.json produced: StopIteration").
* The real failure is a StopIteration that *escapes the coroutine*: Python turns it into
  `RuntimeError: coroutine raised StopIteration`, which no `except StopIteration` above
  it can catch (variant `buggy`: the lookup sits before the `try`, as in the later
  revision that split the missing-report and bad-JSON branches). The flow's result is
  lost.
* `next(..., None)` (variant `fixed`) avoids StopIteration altogether.

Oracle: every flow yields a result, and a flow without a report says so in its error.
Reports are real files in a temporary directory; each flow's child process is modelled
with `sh.checkpoint()`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simharness as sh


@dataclass
class FlowDispatchResult:
    """What one flow of a run set produced."""

    slug: str
    report: dict[str, Any] | None = None
    error: str | None = None


async def _run_subprocess(slug: str, flow_dir: Path, writes_report: bool) -> None:
    await sh.checkpoint(f"flow {slug} subprocess")  # the child process runs
    if writes_report:
        run_dir = flow_dir / "run-1"
        run_dir.mkdir(parents=True)
        (run_dir / "report.json").write_text(json.dumps({"flow": slug, "passed": True}))


async def run_one_seed(slug: str, flow_dir: Path, writes_report: bool) -> FlowDispatchResult:
    """The seed's code: `next(genexpr)` inside the try that catches StopIteration."""
    await _run_subprocess(slug, flow_dir, writes_report)
    result = FlowDispatchResult(slug)
    try:
        report_path = next(p for p in flow_dir.glob("*/report.json"))
        result.report = json.loads(report_path.read_text())
    except (StopIteration, json.JSONDecodeError) as exc:
        result.error = f"no report.json produced: {type(exc).__name__}"
    return result


async def run_one_escaping(slug: str, flow_dir: Path, writes_report: bool) -> FlowDispatchResult:
    """The real failure: the lookup outside the try, so StopIteration leaves the coroutine."""
    await _run_subprocess(slug, flow_dir, writes_report)
    result = FlowDispatchResult(slug)
    report_path = next(p for p in flow_dir.glob("*/report.json"))
    try:
        result.report = json.loads(report_path.read_text())
    except json.JSONDecodeError as exc:
        result.error = f"report.json is not valid JSON: {exc}"
    return result


async def run_one_fixed(slug: str, flow_dir: Path, writes_report: bool) -> FlowDispatchResult:
    """The fix: `next(..., None)`, no StopIteration at all."""
    await _run_subprocess(slug, flow_dir, writes_report)
    result = FlowDispatchResult(slug)
    report_path = next((p for p in flow_dir.glob("*/report.json")), None)
    if report_path is None:
        result.error = "no report.json produced"
        return result
    try:
        result.report = json.loads(report_path.read_text())
    except json.JSONDecodeError as exc:
        result.error = f"report.json is not valid JSON: {exc}"
    return result


RunOne = Callable[[str, Path, bool], Coroutine[Any, Any, FlowDispatchResult]]


async def dispatch_run_set(flows: dict[str, bool], run_one: RunOne, root: Path) -> list[Any]:
    """Run every flow; one result (or exception) per flow, siblings never cancelled."""
    return list(await asyncio.gather(*(run_one(slug, root / slug, ok) for slug, ok in flows.items()),
                                     return_exceptions=True))


@sh.scenario(variants={"buggy": run_one_escaping, "fixed": run_one_fixed, "seed-as-written": run_one_seed},
             expect={"buggy": "fail", "fixed": "pass", "seed-as-written": "pass"},
             bug={"kind": "assertion", "message": "flow result lost: RuntimeError: coroutine raised StopIteration"},
             deterministic=True)  # a flow with no match always loses its result
async def stopiteration_in_async(run_one: RunOne) -> None:
    """Two flows; `checkout` exits without writing report.json. Both must yield a result."""
    root = Path(tempfile.mkdtemp(prefix="simharness-stopiteration-"))
    try:
        results = await dispatch_run_set({"login": True, "checkout": False}, run_one, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lost = [f"{type(r).__name__}: {r}" for r in results if not isinstance(r, FlowDispatchResult)]
    assert not lost, f"flow result lost: {'; '.join(lost)}"
    login, checkout = results
    assert login.report == {"flow": "login", "passed": True}, login
    assert checkout.error is not None and checkout.error.startswith("no report.json produced"), checkout
