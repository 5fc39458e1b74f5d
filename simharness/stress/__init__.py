"""`simharness stress`: run scenarios on the simulated and real backends, judge each variant.

`run_stress(StressOptions(...))` returns a `StressReport` and writes the summary JSON,
the JSON-lines evidence log and JUnit XML to the report folder.
"""

from __future__ import annotations

from simharness.stress.options import StressOptions
from simharness.stress.orchestrator import run_stress
from simharness.stress.report import StressReport, summary_document

__all__ = ["StressOptions", "StressReport", "run_stress", "summary_document"]
