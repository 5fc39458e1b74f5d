"""The stress summary document (contract JSON) and its JUnit XML form.

The summary is `{"ok", "results": [...]}` as the contract says, plus `verdicts` (one
per variant), the options used, timing, where the evidence is, and whether the run
was interrupted. JUnit has one test case per scenario variant.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simharness.explore.serialize import to_jsonable
from simharness.stress.results import BackendResult, Verdict

SUMMARY_VERSION = 1


@dataclass(frozen=True)
class StressReport:
    """Everything a stress run established."""

    ok: bool
    interrupted: bool
    complete: bool                 # False in the summaries written while the run goes on
    results: tuple[BackendResult, ...]
    verdicts: tuple[Verdict, ...]
    options: dict[str, Any]
    elapsed_s: float
    summary_path: str
    log_path: str
    junit_path: str
    errors: tuple[str, ...] = ()   # dispatcher problems (a worker that would not start, ...)


def overall_ok(verdicts: Sequence[Verdict], interrupted: bool, errors: Sequence[str]) -> bool:
    """Exit-0 condition: every expectation held, nothing interrupted, no dispatcher error."""
    return bool(verdicts) and all(v.ok for v in verdicts) and not interrupted and not errors


def summary_document(report: StressReport) -> dict[str, Any]:
    """The JSON summary (also what `stress --json` prints)."""
    return {
        "ok": report.ok,
        "version": SUMMARY_VERSION,
        "interrupted": report.interrupted,
        "complete": report.complete,
        "elapsed_s": round(report.elapsed_s, 3),
        "options": to_jsonable(report.options),
        "results": [to_jsonable(r) for r in report.results],
        "verdicts": [to_jsonable(v) for v in report.verdicts],
        "errors": list(report.errors),
        "files": {"summary": report.summary_path, "log": report.log_path, "junit": report.junit_path},
    }


def summary_text(report: StressReport) -> str:
    return json.dumps(summary_document(report), indent=2, sort_keys=False) + "\n"


def junit_text(report: StressReport) -> str:
    """JUnit XML: one `testcase` per scenario variant, failures carry the verdict's reason."""
    by_variant: dict[tuple[str, str], list[BackendResult]] = {}
    for result in report.results:
        by_variant.setdefault((result.scenario, result.variant), []).append(result)
    failures = sum(1 for v in report.verdicts if not v.ok)
    skipped = sum(1 for v in report.verdicts if v.verdict == "skipped")
    suite = ET.Element("testsuite", name="simharness.stress", tests=str(len(report.verdicts)),
                       failures=str(failures), errors=str(len(report.errors)), skipped=str(skipped),
                       time=f"{report.elapsed_s:.3f}")
    for verdict in report.verdicts:
        case = ET.SubElement(suite, "testcase", classname=verdict.scenario, name=verdict.variant,
                             file=verdict.source_file)
        lines = [f"expect {verdict.expect}: {verdict.verdict}: {verdict.reason}"]
        for result in by_variant.get((verdict.scenario, verdict.variant), []):
            lines.append(f"{result.backend}: {result.runs} runs, {result.failures} failures")
            if result.found is not None:
                lines.append(f"  found {result.found.kind}: {result.found.message}")
                lines.append(f"  replay: {result.found.replay}")
        if verdict.verdict == "skipped":
            ET.SubElement(case, "skipped", message=verdict.reason)
        elif not verdict.ok:
            failure = ET.SubElement(case, "failure", message=verdict.reason[:500], type=verdict.verdict)
            failure.text = "\n".join(lines)
        ET.SubElement(case, "system-out").text = "\n".join(lines)
    notes = (["stress run interrupted: results are partial"] if report.interrupted else []) + list(report.errors)
    if notes:
        ET.SubElement(suite, "system-err").text = "\n".join(notes)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
