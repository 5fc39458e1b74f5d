"""`run_stress`: the Python API behind `simharness stress`.

Resolves the targets (bad ones raise before any process starts), plans the jobs,
starts the CPU load and the dispatcher, rewrites the summary atomically every few
seconds while runs finish (so even a SIGKILLed stress run leaves a valid summary next
to its complete JSON-lines log), and on Ctrl-C stops every worker and writes the
partial summary marked `interrupted`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from simharness.engine.realtime import monotonic, perf_counter, wall_time
from simharness.explore.serialize import to_jsonable
from simharness.stress.collect import Collector, ProgressCallback
from simharness.stress.dispatch import Dispatcher
from simharness.stress.evidence import EvidenceLog, check_writable, write_atomic
from simharness.stress.load import CpuLoad
from simharness.stress.options import StressOptions
from simharness.stress.plan import build_jobs, plan_variants, planned_runs, select
from simharness.stress.report import StressReport, junit_text, overall_ok, summary_text

SUMMARY_NAME = "stress-summary.json"
LOG_NAME = "stress-log.jsonl"
JUNIT_NAME = "stress-junit.xml"
#: How often the summary is rewritten while runs are still finishing.
_SUMMARY_EVERY_S = 2.0


def _options_document(options: StressOptions) -> dict[str, Any]:
    document: dict[str, Any] = to_jsonable(options)
    document["concurrency"] = list(options.concurrency)
    return document


def run_stress(options: StressOptions, progress: ProgressCallback | None = None) -> StressReport:
    """Run the stress check described by `options`; return (and write) its report."""
    scenarios = select(options)
    plans = plan_variants(scenarios, options)
    report_dir = Path(options.report_dir)
    check_writable(report_dir)  # a bad --report-dir is an error before any process starts
    summary_path, log_path, junit_path = (report_dir / n for n in (SUMMARY_NAME, LOG_NAME, JUNIT_NAME))
    log_path.unlink(missing_ok=True)  # one log per stress run, matching its summary
    session_dir = Path(tempfile.mkdtemp(prefix="simharness-stress-"))
    jobs = build_jobs(plans, options, session_dir / "runs")
    planned = planned_runs(jobs)
    settings = {"loop": options.loop, "noise": options.noise, "load": options.load, "workers": options.workers,
                "timeout_s": options.timeout_s}
    log = EvidenceLog(log_path)
    log.append({"type": "start", "options": _options_document(options), "planned": planned,
                "variants": [to_jsonable(p) for p in plans], "started_at": round(wall_time(), 3)})
    collector = Collector(plans, log, planned, settings, progress)
    dispatcher = Dispatcher(jobs, max(1, min(options.workers, len(jobs))), session_dir, options.timeout_s,
                            max(options.timeout_s * 4, 60.0), collector.record)
    started = perf_counter()

    def report(interrupted: bool, complete: bool) -> StressReport:
        results, verdicts = collector.snapshot()
        errors = tuple(dispatcher.errors)
        return StressReport(
            ok=complete and overall_ok(verdicts, interrupted, errors), interrupted=interrupted,
            complete=complete, results=tuple(results), verdicts=tuple(verdicts),
            options=_options_document(options), elapsed_s=perf_counter() - started,
            summary_path=str(summary_path), log_path=str(log_path), junit_path=str(junit_path), errors=errors)

    interrupted = False
    try:
        with CpuLoad(options.load):
            dispatcher.start()
            written = monotonic()
            while dispatcher.running():
                dispatcher.join(0.25)
                if monotonic() - written >= _SUMMARY_EVERY_S:
                    write_atomic(summary_path, summary_text(report(False, False)))
                    written = monotonic()
    except KeyboardInterrupt:
        interrupted = True
        dispatcher.kill_all()
        dispatcher.join(10.0)  # every slot kills its own worker and returns
    finally:
        final = report(interrupted, not interrupted)
        write_atomic(summary_path, summary_text(final))
        write_atomic(junit_path, junit_text(final))
        log.append({"type": "end", "ok": final.ok, "interrupted": interrupted,
                    "elapsed_s": round(final.elapsed_s, 3), "errors": list(final.errors)})
        log.close()
        shutil.rmtree(session_dir, ignore_errors=True)
    return final
