"""Planning a stress run: which variants run on which backend, split into worker jobs.

Every real run gets its own directory under the session directory (never shared
with another run) and a seed for its checkpoint noise derived from where it sits in
the plan, so a run's evidence names everything needed to repeat it.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from simharness.discovery import load_directory, resolve
from simharness.errors import TargetError
from simharness.explore.store import FailureStore
from simharness.real.protocol import RealJob, RunSpec, SimJob
from simharness.scenario import BugSignature, Scenario
from simharness.stress.options import StressOptions

#: Largest number of runs one job carries (a crash costs at most a re-spawn; jobs spread).
_MAX_JOB_RUNS = 25
#: Default blocked-loop threshold on the real loop (a scenario may declare blocked_loop_s).
REAL_BLOCKED_LOOP_S = 10.0  # as in simulation: a slow disk or busy machine is not a blocked loop


@dataclass(frozen=True)
class VariantPlan:
    """One scenario variant and the backends it will run on."""

    scenario: str
    variant: str
    expect: str
    source_file: str
    target: str                 # how to name it on a command line (PATH::NAME)
    backends: tuple[str, ...]   # the backends it runs on in this stress run
    declared: tuple[str, ...]   # the backends the scenario declares it supports
    blocked_loop_s: float
    bug: BugSignature | None = None  # what the expected failure looks like, if declared


def _target(scenario: Scenario) -> str:
    path = Path(scenario.source_file)
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return f"{shown}::{scenario.name}"


def select(options: StressOptions) -> list[Scenario]:
    """The scenarios the targets name (default: every scenario under the scenarios dir)."""
    if not options.targets:
        found = list(load_directory(options.scenarios_dir))
        if not found:
            raise TargetError(f"no scenarios found in {options.scenarios_dir}/")
        return found
    chosen: list[Scenario] = []
    for target in options.targets:
        for scenario in resolve(target, options.scenarios_dir).scenarios:
            if scenario not in chosen:
                chosen.append(scenario)
    return chosen


def plan_variants(scenarios: list[Scenario], options: StressOptions) -> list[VariantPlan]:
    plans = []
    for scenario in scenarios:
        declared = tuple(scenario.options.get("backends", ("sim", "real")))
        backends = tuple(b for b in options.backends if b in declared)
        blocked = float(scenario.options.get("blocked_loop_s", REAL_BLOCKED_LOOP_S))
        for variant in scenario.variant_names:
            if options.only_expect is not None and scenario.expectation(variant) != options.only_expect:
                continue
            plans.append(VariantPlan(scenario.name, variant, scenario.expectation(variant),
                                     scenario.source_file, _target(scenario), backends, declared, blocked,
                                     scenario.bug_signature(variant)))
    return plans


def _seed(plan: VariantPlan, concurrency: int, index: int) -> int:
    return zlib.crc32(f"{plan.scenario}/{plan.variant}/{concurrency}/{index}".encode())


def _stored(scenario: str, variant: str) -> tuple[str, ...]:
    """Failing schedules the failure store holds for a variant (a stored failure's timing counts too)."""
    store = FailureStore.default()
    if store is None or not store.path.exists():
        return ()
    return tuple(entry.schedule for entry in store.entries(scenario, variant)[:5])


def timed_jobs(plans: list[VariantPlan], options: StressOptions, runs_dir: Path, first_id: int,
               soft: float) -> list[RealJob]:
    """Runs of every variant under each failure found for its scenario's buggy variants.

    Only scenarios simulation can explore (a timing comes from a simulated failure) and
    whose real runs are planned; concurrency 1 (the timing is one copy's).
    """
    jobs: list[RealJob] = []
    if not options.timed_runs:
        return jobs
    for buggy in plans:
        if buggy.expect != "fail" or "sim" not in buggy.declared or "real" not in buggy.backends:
            continue
        stored = _stored(buggy.scenario, buggy.variant)
        for plan in plans:
            if plan.scenario != buggy.scenario or not (plan is buggy or plan.expect == "pass"):
                continue
            for start in range(1, options.timed_runs + 1, _MAX_JOB_RUNS):
                specs = tuple(RunSpec(i, _seed(plan, 0, i), os.fspath(runs_dir / f"{first_id + len(jobs)}-{i}"))
                              for i in range(start, min(options.timed_runs, start + _MAX_JOB_RUNS - 1) + 1))
                jobs.append(RealJob(first_id + len(jobs), plan.source_file, plan.scenario, plan.variant, 1, 0.0,
                                    options.loop, soft, plan.blocked_loop_s, specs, timing_from=buggy.variant,
                                    timing_runs=options.sim_runs, timing_schedules=stored))
    return jobs


def build_jobs(plans: list[VariantPlan], options: StressOptions, runs_dir: Path) -> list[RealJob | SimJob]:
    """Sim jobs first (one per variant), then real jobs of at most `_MAX_JOB_RUNS` runs, then
    the runs under found timings."""
    jobs: list[RealJob | SimJob] = []
    for plan in plans:
        if "sim" in plan.backends:
            jobs.append(SimJob(len(jobs), plan.source_file, plan.scenario, plan.variant, options.sim_runs))
    per_job = max(1, min(_MAX_JOB_RUNS, math.ceil(options.runs / options.workers)))
    soft = max(options.timeout_s * 0.8, options.timeout_s - 2.0)  # the worker's own deadline
    for plan in plans:
        if "real" not in plan.backends:
            continue
        for concurrency in options.concurrency:
            for start in range(1, options.runs + 1, per_job):
                specs = tuple(
                    RunSpec(i, _seed(plan, concurrency, i),
                            os.fspath(runs_dir / f"{len(jobs)}-{i}"))
                    for i in range(start, min(options.runs, start + per_job - 1) + 1))
                jobs.append(RealJob(len(jobs), plan.source_file, plan.scenario, plan.variant, concurrency,
                                    options.noise, options.loop, soft, plan.blocked_loop_s, specs))
    jobs.extend(timed_jobs(plans, options, runs_dir, len(jobs), soft))
    return jobs


def planned_runs(jobs: list[RealJob | SimJob]) -> int:
    """Real runs plus explorations: the units the progress display counts."""
    return sum(len(j.runs) if isinstance(j, RealJob) else 1 for j in jobs)
