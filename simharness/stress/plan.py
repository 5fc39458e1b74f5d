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


def build_jobs(plans: list[VariantPlan], options: StressOptions, runs_dir: Path) -> list[RealJob | SimJob]:
    """Sim jobs first (one per variant), then real jobs of at most `_MAX_JOB_RUNS` runs."""
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
    return jobs


def planned_runs(jobs: list[RealJob | SimJob]) -> int:
    """Real runs plus explorations: the units the progress display counts."""
    return sum(len(j.runs) if isinstance(j, RealJob) else 1 for j in jobs)
