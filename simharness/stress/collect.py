"""The collector: receives every finished run, logs it durably, tallies it, judges.

The dispatcher's slots call `record` from their threads as each run ends; the record
goes to the JSON-lines log at once, then into the tallies the summary is built from.
The tallies are the one mutable piece of a stress run, kept behind a lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simharness.engine.realtime import wall_time
from simharness.explore.serialize import replay_command
from simharness.stress.dispatch import RealRecord, SimRecord, SkipRecord, TimingRecord
from simharness.stress.evidence import EvidenceLog
from simharness.stress.plan import VariantPlan
from simharness.stress.results import BackendResult, SimFinding, Verdict, level_results, normalise, outcome_rows
from simharness.stress.verdict import judge


@dataclass(frozen=True)
class Progress:
    """A progress event: units done of planned, failures seen so far, what just ended."""

    done: int
    planned: int
    failures: int
    last: str


ProgressCallback = Callable[[Progress], None]


class Collector:
    """Thread-safe sink for run records; builds results and verdicts on demand."""

    def __init__(self, plans: list[VariantPlan], log: EvidenceLog, planned: int,
                 settings: dict[str, Any], progress: ProgressCallback | None = None) -> None:
        self.plans = {(p.scenario, p.variant): p for p in plans}
        self.order = [(p.scenario, p.variant) for p in plans]
        self.log = log
        self.planned = planned
        self.settings = settings
        self.progress = progress
        self._lock = threading.Lock()
        self._done = 0
        self._failures = 0
        # (scenario, variant) -> concurrency -> (outcome counts, run durations)
        self._real: dict[tuple[str, str], dict[int, tuple[Counter[tuple[str, str]], list[float]]]] = {}
        self._sim: dict[tuple[str, str], SimRecord] = {}
        self._skipped: dict[tuple[str, str, int], int] = {}
        # Runs under a found failure's timing: (scenario, variant) -> outcome counts,
        # runs skipped (no timing to run under), and the timings' statements.
        self._timed: dict[tuple[str, str], Counter[tuple[str, str]]] = {}
        self._timed_skipped: dict[tuple[str, str], int] = {}
        self._timings: dict[tuple[str, str], dict[str, TimingRecord]] = {}  # ... -> buggy variant -> timing

    def record(self, record: RealRecord | SimRecord | SkipRecord | TimingRecord) -> None:
        if isinstance(record, RealRecord):
            self._record_real(record)
        elif isinstance(record, SkipRecord):
            self._record_skip(record)
        elif isinstance(record, TimingRecord):
            self._record_timing(record)
        else:
            self._record_sim(record)

    def _record_timing(self, record: TimingRecord) -> None:
        job = record.job
        self.log.append({"type": "timing", "scenario": job.scenario, "variant": job.variant,
                         "from_variant": job.timing_from, "timings": list(record.timings), "reason": record.reason})
        with self._lock:
            self._timings.setdefault((job.scenario, job.variant), {})[job.timing_from] = record

    def _record_skip(self, record: SkipRecord) -> None:
        job = record.job
        self.log.append({"type": "skipped", "backend": "real", "scenario": job.scenario, "variant": job.variant,
                         "concurrency": job.concurrency, "indices": list(record.indices), "reason": record.reason})
        with self._lock:
            if job.timing_from:
                timed = (job.scenario, job.variant)
                self._timed_skipped[timed] = self._timed_skipped.get(timed, 0) + len(record.indices)
            else:
                key = (job.scenario, job.variant, job.concurrency)
                self._skipped[key] = self._skipped.get(key, 0) + len(record.indices)
            self._done += len(record.indices)
            event = Progress(self._done, self.planned, self._failures,
                             f"{job.scenario}[{job.variant}] x{job.concurrency}: {record.reason}")
        if self.progress is not None:
            self.progress(event)

    def _record_real(self, record: RealRecord) -> None:
        job, outcome = record.job, record.outcome
        plan = self.plans[(job.scenario, job.variant)]
        label = outcome.kind or "pass"
        message = normalise(outcome.message) if outcome.kind else ""
        self.log.append({
            "type": "run", "backend": "timed" if job.timing_from else "real", "scenario": job.scenario,
            "variant": job.variant,
            "expect": plan.expect, "concurrency": job.concurrency, "index": outcome.index,
            "seed": outcome.seed, "outcome": label, "kind": outcome.kind, "message": outcome.message,
            "normalised": message, "duration_s": outcome.duration_s, "failed_copies": outcome.failed_copies,
            "leaks": list(outcome.leaks), "traceback": outcome.traceback, "worker_pid": record.worker_pid,
            "loop": job.loop,
            "noise": job.noise, "output_tail": record.output_tail, "finished_at": round(wall_time(), 3),
        })
        with self._lock:
            if job.timing_from:
                self._timed.setdefault((job.scenario, job.variant), Counter())[(label, message)] += 1
            else:
                levels = self._real.setdefault((job.scenario, job.variant), {})
                counts, durations = levels.setdefault(job.concurrency, (Counter(), []))
                counts[(label, message)] += 1
                if outcome.kind not in ("crash", "timeout"):
                    durations.append(outcome.duration_s)
            self._done += 1
            self._failures += outcome.kind is not None
            event = Progress(self._done, self.planned, self._failures,
                             f"{job.scenario}[{job.variant}] x{job.concurrency} #{outcome.index}: {label}")
        if self.progress is not None:
            self.progress(event)

    def _record_sim(self, record: SimRecord) -> None:
        job = record.job
        plan = self.plans[(job.scenario, job.variant)]
        found = self._finding(plan, record)
        self.log.append({
            "type": "exploration", "backend": "sim", "scenario": job.scenario, "variant": job.variant,
            "expect": plan.expect, "runs": record.document.get("runs", 0), "budget": job.runs,
            "found": found, "error": record.error, "explorations": record.document.get("explorations", []),
            "worker_pid": record.worker_pid, "finished_at": round(wall_time(), 3),
        })
        with self._lock:
            self._sim[(job.scenario, job.variant)] = record
            self._done += 1
            failed = found is not None or record.error is not None
            self._failures += failed
            event = Progress(self._done, self.planned, self._failures,
                             f"{job.scenario}[{job.variant}] sim: {found.kind if found else record.error or 'pass'}")
        if self.progress is not None:
            self.progress(event)

    @staticmethod
    def _finding(plan: VariantPlan, record: SimRecord) -> SimFinding | None:
        found = record.document.get("found")
        if not found:
            return None
        return SimFinding(
            kind=found["kind"], message=found["message"], schedule=found["schedule"],
            trace_hash=found["trace_hash"], strategy=found["strategy"], seed=found["seed"],
            run_index=found["schedules_before"] + found["run_index"],
            replay=replay_command(plan.target, plan.variant, found["schedule"]))

    def _sim_result(self, plan: VariantPlan) -> BackendResult | None:
        record = self._sim.get((plan.scenario, plan.variant))
        if record is None:
            return None
        found = self._finding(plan, record)
        runs = int(record.document.get("runs", 0))
        counts: Counter[tuple[str, str]] = Counter()
        if found is not None:
            counts[(found.kind, normalise(found.message))] += 1
        if record.error is not None:
            counts[("crash", normalise(record.error))] += 1
        passes = runs - (1 if found is not None else 0)
        if passes > 0:
            counts[("pass", "")] += passes
        failures = int(found is not None or record.error is not None)
        ok = (failures == 0) if plan.expect == "pass" else (found is not None)
        kinds = frozenset({found.kind}) if found else None
        return BackendResult(
            scenario=plan.scenario, variant=plan.variant, backend="sim", expect=plan.expect, runs=runs,
            failures=failures, ok=ok, failure_rate=round(failures / runs, 6) if runs else 0.0,
            outcomes=outcome_rows(counts, max(runs, 1), plan.expect, kinds), found=found, error=record.error,
            observed=found is not None,
            note=("explored with pct then random; a schedule count, not a probability"))

    def _real_result(self, plan: VariantPlan, sim: BackendResult | None) -> BackendResult | None:
        levels = self._real.get((plan.scenario, plan.variant))
        if levels is None:
            return None
        kinds = frozenset({sim.found.kind}) if sim is not None and sim.found is not None else None
        skipped = {c: self._skipped.get((plan.scenario, plan.variant, c), 0) for c in levels}
        rows = level_results(levels, plan.expect, kinds, skipped)
        total: Counter[tuple[str, str]] = Counter()
        for counts, _ in levels.values():
            total.update(counts)
        runs = sum(r.runs for r in rows)
        failures = sum(r.failures for r in rows)
        judged_here = plan.expect == "pass" or "sim" not in plan.backends
        if plan.expect == "pass":
            ok = failures == 0
        else:
            ok = failures > 0 if judged_here else True
        note = "" if judged_here else "informational: the simulated explorer decides this buggy variant"
        if any(skipped.values()):
            note = (note + "; " if note else "") + (f"{sum(skipped.values())} runs skipped after repeated "
                                                      "timeouts (each costs a full --timeout)")
        return BackendResult(
            scenario=plan.scenario, variant=plan.variant, backend="real", expect=plan.expect, runs=runs,
            failures=failures, ok=ok, failure_rate=round(failures / runs, 6) if runs else 0.0,
            outcomes=outcome_rows(total, runs, plan.expect, kinds), levels=rows, observed=failures > 0,
            skipped=sum(skipped.values()),
            settings=dict(self.settings), note=note)

    def _timed_result(self, plan: VariantPlan) -> BackendResult | None:
        """Real runs under the found timing of the scenario's buggy variant (None: none planned)."""
        key = (plan.scenario, plan.variant)
        counts, skipped, timings = self._timed.get(key), self._timed_skipped.get(key, 0), self._timings.get(key, {})
        if counts is None and not skipped:
            return None
        counts = counts or Counter()
        runs = sum(counts.values())
        failures = runs - counts.get(("pass", ""), 0)
        kinds = frozenset({plan.bug.kind}) if plan.bug is not None else None
        statements = "; ".join(t["statement"] for record in timings.values() for t in record.timings)
        reasons = "; ".join(record.reason for record in timings.values() if record.reason)
        note = f"timing: {statements}" if statements else f"no timing: {reasons}"
        ok = failures == 0 if plan.expect == "pass" else True  # a buggy variant's count is evidence only
        return BackendResult(
            scenario=plan.scenario, variant=plan.variant, backend="timed", expect=plan.expect, runs=runs,
            failures=failures, ok=ok, failure_rate=round(failures / runs, 6) if runs else 0.0,
            outcomes=outcome_rows(counts, runs, plan.expect, kinds), observed=failures > 0, skipped=skipped,
            note=note)

    def snapshot(self) -> tuple[list[BackendResult], list[Verdict]]:
        """Results (per variant and backend) and verdicts (per variant) as of now."""
        with self._lock:
            results: list[BackendResult] = []
            verdicts: list[Verdict] = []
            for key in self.order:
                plan = self.plans[key]
                sim = self._sim_result(plan)
                real = self._real_result(plan, sim)
                timed = self._timed_result(plan)
                results.extend(r for r in (sim, real, timed) if r is not None)
                verdicts.append(judge(plan, sim, real, timed))
            return results, verdicts
