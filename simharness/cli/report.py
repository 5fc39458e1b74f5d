"""`simharness report RESULT.json`, and the `--html` helpers of explore, replay and stress.

The report is made from the JSON document alone (plus source excerpts when the files
are on this machine), so a CI artifact becomes a report anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from simharness.errors import ConfigError, SimharnessError
from simharness.engine.execution import RunSettings
from simharness.explore.explain import explain
from simharness.outcome import Exploration
from simharness.report import ReportError, default_name, document_kind, write_report
from simharness.explore.runner import replay, run_strategy
from simharness.scenario import Scenario
from simharness.explore.serialize import replay_document
from simharness.engine.strategies import FifoStrategy
from simharness.cli.app import app
from simharness.cli.common import EXIT_OK, note, say

HtmlOption = Annotated[bool, typer.Option(
    "--html", help="Also write a self-contained HTML report into --report-dir.")]
ReportDirOption = Annotated[str, typer.Option("--report-dir", metavar="DIR", help="Where reports go.")]
DEFAULT_REPORT_DIR = "reports"


def _load(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"no such result file: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{path} is not JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise ReportError(f"{path} nests too deeply to be a simharness result document") from None


def announce(path: Path, json_output: bool) -> None:
    """Say where the report went: on stdout, or on stderr when stdout holds a JSON document."""
    if json_output:
        note(f"report: {path}")
    else:
        say(f"report: {path}")


def write_html(document: dict[str, Any], report_dir: str, json_output: bool,
               scenarios: tuple[Scenario, ...] = ()) -> Path:
    """`--html`: write the report of `document` into `report_dir` and say where.

    The folders of `scenarios` are searched for the source excerpts of raced steps.
    """
    dirs = tuple(dict.fromkeys(str(Path(s.source_file).parent) for s in scenarios))
    path = write_report(document, Path(report_dir) / default_name(document), source_dirs=dirs)
    announce(path, json_output)
    return path


def failure_detail(target: str, scenario: Scenario, variant: str, schedule: str,
                   settings: RunSettings) -> dict[str, Any] | None:
    """The replay document (trace, FIFO trace, explanation) of a found failure; None if it cannot be made."""
    try:
        detailed = replay(scenario, variant, schedule, settings, trace=True, accesses=True)
        fifo_settings = RunSettings(**{**settings.__dict__, "preemptive": detailed.schedule.preemptive})
        fifo = run_strategy(scenario, variant, FifoStrategy(), fifo_settings, detail=True, accesses=True)
        return replay_document(target, detailed, fifo, explain(detailed, fifo))
    except SimharnessError as error:  # the finding stands; the report shows it without a timeline
        note(f"could not replay {scenario.name}[{variant}] for the report: {error}", "yellow")
        return None


def explore_html(document: dict[str, Any], explorations: list[Exploration], scenarios: tuple[Scenario, ...],
                 settings: RunSettings, report_dir: str, json_output: bool) -> Path:
    """`explore --html`: the explore document, each failure with its detailed replay under "detail"."""
    results = []
    for entry, exploration in zip(document["results"], explorations):
        # A crash is not replayed here: the schedule killed the worker process running it.
        if exploration.failure is not None and exploration.failure.kind != "crash":
            scenario = next(s for s in scenarios if s.name == exploration.scenario)
            entry = {**entry, "detail": failure_detail(document["target"], scenario, exploration.variant,
                                                       exploration.failure.schedule, settings)}
        results.append(entry)
    return write_html({**document, "results": results}, report_dir, json_output, scenarios)


@app.command("report")
def report_command(
    result: Annotated[str, typer.Argument(metavar="RESULT.json", help="JSON of explore, replay or stress.")],
    out: Annotated[str | None, typer.Option("--out", metavar="PATH", help="Write the report here.")] = None,
    report_dir: Annotated[str | None, typer.Option(
        "--report-dir", metavar="DIR", help="Write RESULT.html into DIR (default reports/).")] = None,
    source_dir: Annotated[list[str] | None, typer.Option(
        "--source-dir", metavar="DIR", help="Also look here for source files to excerpt (repeatable).")] = None,
) -> None:
    """Turn a JSON result (explore, replay or stress --json, or reports/stress-summary.json) into one HTML page."""
    if out is not None and report_dir is not None:
        raise ConfigError("give --out or --report-dir, not both")
    document = _load(result)
    document_kind(document)  # refuse anything else before writing
    path = Path(out) if out is not None else Path(report_dir or DEFAULT_REPORT_DIR) / (Path(result).stem + ".html")
    written = write_report(document, path, source_dirs=source_dir or ())
    announce(written, json_output=False)
    raise typer.Exit(EXIT_OK)
