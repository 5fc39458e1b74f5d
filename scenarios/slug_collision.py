"""slug-collision: the run-set dispatcher's de-duplicated slug is not checked again.

Seed: ../shared/seeds/001_15ce1f2008a29817.txt, the review finding "Deduplicated slug
is not checked against seen_slugs, allowing two flows to share the same output
directory" (src/im2be_qa_rig/parallel.py:193, rounds 1-2) and its fix "loop until a
free slug is found".

`dispatch_run_set` gives each flow an output directory named after its spec file; a
repeated name becomes `f"{slug}-{i}"` without checking that this name is free, so the
flows `foo`, `foo-2`, `foo` put flows 1 and 2 both into `run_set_dir/foo-2/`. Each flow
runs as a real child process (`_slug_flow.py`) that writes `run-<id>/report.json` into
its directory; `_run_one` then takes `next(flow_dir.glob("*/report.json"))`, which may
be the other flow's report when both children have written theirs.

Flow lists. The colliding list is not hand-picked: `colliding_flow_list()` asks
Hypothesis (`find`, derandomized, no example database) for the simplest list of spec
names on which the buggy slug assignment puts two flows in one directory; Hypothesis
shrinks it to `foo, foo-2, foo`. Being derandomized and shrunk to a minimum, the list is
the same in every process, so `simharness explore` and `replay` of this scenario agree.
Tests also pass lists drawn by Hypothesis as the scenario's second argument
(`hypothesis_support.run_with`), so the harness finds a colliding list by itself.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import simharness as sh

CHILD = Path(__file__).with_name("_slug_flow.py")
#: The run set's `[meta].concurrency`: fewer slots than flows, so when each flow starts
#: depends on when the others finish.
CONCURRENCY = 2
FLOW_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class FlowDispatchSpec:
    """One `[[flows]]` entry of run-set.toml: the flow's spec file."""

    spec_path: str

    @property
    def slug(self) -> str:
        return Path(self.spec_path).stem


@dataclass(frozen=True)
class FlowDispatchResult:
    """What the dispatcher reports for one flow."""

    index: int
    spec: str
    slug: str
    passed: bool
    report: dict[str, object] | None
    report_path: str
    error: str | None = None


def assign_slugs_buggy(specs: Sequence[FlowDispatchSpec]) -> list[str]:
    """parallel.py:193 as reviewed: the renamed slug is added without a membership check."""
    seen_slugs: set[str] = set()
    slugs = []
    for i, spec in enumerate(specs):
        slug = spec.slug
        if slug in seen_slugs:
            slug = f"{slug}-{i}"
        seen_slugs.add(slug)
        slugs.append(slug)
    return slugs


def assign_slugs_fixed(specs: Sequence[FlowDispatchSpec]) -> list[str]:
    """The fix: a monotonic suffix, incremented until an unused slug is found."""
    seen_slugs: set[str] = set()
    slugs = []
    for i, spec in enumerate(specs):
        slug = spec.slug
        if slug in seen_slugs:
            suffix = i
            while f"{spec.slug}-{suffix}" in seen_slugs:
                suffix += 1
            slug = f"{spec.slug}-{suffix}"
        seen_slugs.add(slug)
        slugs.append(slug)
    return slugs


AssignSlugs = Callable[[Sequence[FlowDispatchSpec]], list[str]]


async def _run_one(index: int, spec: FlowDispatchSpec, slug: str, run_set_dir: Path,
                   semaphore: asyncio.Semaphore) -> FlowDispatchResult:
    async with semaphore:
        flow_dir = run_set_dir / slug
        flow_dir.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", str(CHILD), str(index), spec.slug, str(flow_dir),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=FLOW_TIMEOUT_S)
        (flow_dir / "stdout.log").write_bytes(stdout)
        (flow_dir / "stderr.log").write_bytes(stderr)
        candidate = next((p for p in flow_dir.glob("*/report.json")), None)
        if candidate is None:
            return FlowDispatchResult(index, spec.spec_path, slug, False, None, "", error="no report.json produced")
        report = json.loads(candidate.read_text(encoding="utf-8"))
        return FlowDispatchResult(index, spec.spec_path, slug, proc.returncode == 0, report,
                                  candidate.relative_to(run_set_dir).as_posix())


async def dispatch_run_set(specs: Sequence[FlowDispatchSpec], run_set_dir: Path,
                           assign_slugs: AssignSlugs) -> list[FlowDispatchResult]:
    """Run every flow as a child process, at most CONCURRENCY at a time."""
    slugs = assign_slugs(specs)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    results = await asyncio.gather(*(_run_one(i, spec, slug, run_set_dir, semaphore)
                                     for i, (spec, slug) in enumerate(zip(specs, slugs))),
                                   return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return [r for r in results if isinstance(r, FlowDispatchResult)]


def check_results(results: Sequence[FlowDispatchResult]) -> str | None:
    """The oracle: each flow read back its own report (so it had its own directory).

    A shared directory is a failure as soon as it corrupts a result: a flow reads
    another flow's report. The message names both flows and the directory they share.
    (Finding the other report beside one's own is not failed on by itself: the
    shrinker would then trade the wrong read for that milder symptom.)
    """
    problems = []
    for result in results:
        if result.report is None:
            problems.append(f"flow #{result.index} ({result.spec}): {result.error}")
        elif result.report.get("flow_id") != result.index:
            other = results[int(str(result.report["flow_id"]))]
            problems.append(f"flow #{result.index} ({result.spec}) read the report of flow #{other.index} "
                            f"({other.spec}) from {result.report_path}: both were given the output "
                            f"directory {result.slug}/")
    return "; ".join(problems) if problems else None


def spec_name_lists(max_size: int = 5):  # -> SearchStrategy[list[str]]
    """Hypothesis strategy: lists of spec names such as `foo`, `foo-2`, `foo-1`.

    One base with numeric suffixes, because a collision needs a name that equals
    another's de-duplicated form; Hypothesis shrinks toward `foo` with no suffix.
    """
    from hypothesis import strategies as st

    name = st.builds(lambda suffix: "foo" + suffix, st.sampled_from(["", "-1", "-2", "-3"]))
    return st.lists(name, min_size=3, max_size=max_size)


def flow_specs(names: Sequence[str]) -> list[FlowDispatchSpec]:
    return [FlowDispatchSpec(f"flows/{name}.toml") for name in names]


@functools.lru_cache(maxsize=1)
def colliding_flow_list() -> tuple[str, ...]:
    """The simplest spec-name list Hypothesis finds on which the buggy slugs collide."""
    from hypothesis import HealthCheck, find, settings

    def collides(names: list[str]) -> bool:
        slugs = assign_slugs_buggy(flow_specs(names))
        return len(set(slugs)) < len(slugs)

    found = find(spec_name_lists(), collides,
                 settings=settings(database=None, derandomize=True, max_examples=2000,
                                   suppress_health_check=list(HealthCheck)))
    return tuple(found)


@sh.scenario(variants={"buggy": assign_slugs_buggy, "fixed": assign_slugs_fixed},
             expect={"buggy": "fail", "fixed": "pass"}, process_settle_s=0.3,
             bug={"kind": "assertion", "message": "read the report of flow .* both were given the output directory"})
async def slug_collision(assign_slugs: AssignSlugs, names: Sequence[str] | None = None) -> None:
    """Every flow gets its own output directory and reads back its own report.

    `names` (spec names) defaults to `colliding_flow_list()`; tests pass drawn lists.
    """
    specs = flow_specs(names if names is not None else colliding_flow_list())
    run_set_dir = Path(tempfile.mkdtemp(prefix="simharness-run-set-"))
    try:
        results = await dispatch_run_set(specs, run_set_dir, assign_slugs)
    finally:
        shutil.rmtree(run_set_dir, ignore_errors=True)
    problem = check_results(results)
    assert problem is None, problem


