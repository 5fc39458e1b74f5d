"""The HTML report: one self-contained page made from a result document alone.

`render_html(document)` accepts the JSON documents of `explore`, `replay` and
`stress` (as loaded by `json.load`); `write_report` writes the page atomically.
"""

from __future__ import annotations

from simharness.report.build import check_writable, default_name, render_html, write_atomic, write_report
from simharness.report.model import ReportError, document_kind

__all__ = ["ReportError", "check_writable", "default_name", "document_kind", "render_html", "write_atomic", "write_report"]
