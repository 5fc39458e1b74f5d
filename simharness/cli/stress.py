"""`simharness stress`: check every variant against its `expect` on the sim and real backends.

Every option value is validated (one line, exit 2) before any process starts. While it
runs, a progress bar on stderr; at the end, the verdict table, the outcome tables that
matter, the speedup by concurrency level, replay lines and where the reports are.
Exit 0 only when every expectation held; 1 otherwise; 130 when interrupted (the
reports written so far stay valid).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from simharness.engine.realtime import monotonic
from simharness.errors import ConfigError
from simharness.stress import StressOptions, run_stress, summary_document
from simharness.stress.collect import Progress as StressProgress
from simharness.stress.options import FULL, QUICK, default_workers, parse_concurrency, parse_noise, parse_timeout
from simharness.stress.report import StressReport
from simharness.stress.results import BackendResult
from simharness.cli.app import app
from simharness.cli import common
from simharness.cli.common import (
    EXIT_FOUND, EXIT_OK, JsonOption, ScenariosDirOption, clean, emit_json, err, note, out, progress_enabled, say,
)
from simharness.cli.report import HtmlOption, write_html

EXIT_INTERRUPTED = 130


def _count(option: str, text: str | None, default: int, minimum: int = 1) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{option} must be an integer, got {text!r}") from None
    if value < minimum:
        raise ConfigError(f"{option} must be at least {minimum}, got {value}")
    return value


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a stress run like Ctrl-C: reports stay valid


def _line_every_s() -> float:
    """Seconds between progress lines when stderr is not a terminal: $SIMHARNESS_PROGRESS_EVERY, default 10."""
    try:
        return max(0.0, float(os.environ.get("SIMHARNESS_PROGRESS_EVERY", "10")))
    except ValueError:
        return 10.0


class _Bar:
    """Progress on stderr: a rich bar on a terminal; in a CI log (not a terminal), a line
    for every finished simulated exploration and at most every few seconds for real runs."""

    def __init__(self, enabled: bool, lines: bool = False) -> None:
        self.progress = Progress(TextColumn("stress"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[failures]} failing"), TextColumn("{task.fields[last]}"),
                                 console=err, transient=True, disable=not enabled)
        self.task = self.progress.add_task("stress", total=None, failures=0, last="")
        self.lines = lines and not enabled
        self.every_s = _line_every_s()
        self._last_line = monotonic()
        self._lock = threading.Lock()

    def __call__(self, event: StressProgress) -> None:
        self.progress.update(self.task, completed=event.done, total=event.planned, failures=event.failures,
                             last=Text(clean(event.last[:60])))
        if not self.lines:
            return
        with self._lock:
            now = monotonic()
            finished = event.done >= event.planned or " sim: " in event.last
            if not finished and now - self._last_line < self.every_s:
                return
            self._last_line = now
            sys.stderr.write(f"stress: {event.done}/{event.planned} done, {event.failures} failing; "
                             f"last: {clean(event.last)}\n")
            sys.stderr.flush()


def _sim_cell(result: BackendResult | None) -> str:
    if result is None:
        return "-"
    if result.found is not None:
        return f"{result.found.kind} @ {result.found.run_index}/{result.runs}"
    if result.error:
        return "error"
    return f"0/{result.runs}"


def _real_cell(result: BackendResult | None) -> str:
    if result is None:
        return "-"
    return f"{result.failures}/{result.runs} ({result.failure_rate:.0%})"


def _timed_cell(result: BackendResult | None) -> str:
    """Real runs under the found timing: "fails 5/5" for a buggy variant, "0/5" for a fixed one."""
    if result is None:
        return "-"
    if not result.runs:  # why: the stock order fails already, or no stock equivalent (see the summary)
        return "stock order fails" if "stock order fails already" in result.note else "no timing"
    counted = f"{result.failures}/{result.runs}"
    return f"fails {counted}" if result.expect == "fail" else counted


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=clean(title), title_justify="left")
    for column in columns:
        table.add_column(Text(column), overflow="fold")  # wrap a long cell, never cut it to "…"
    return table


def _show(table: Table) -> None:
    """Print a table whole: in a log (not a terminal) as wide as its longest row needs."""
    if out.is_terminal:
        out.print(table)
    else:
        wide = Measurement.get(out, out.options.update_width(100_000), table).maximum
        # Console.print caps width= at the console's own width: print through a wider one.
        Console(file=out.file, width=max(out.width, wide), soft_wrap=True, highlight=False,
                color_system=None).print(table)


def _print_report(report: StressReport) -> None:
    by_key = {(r.scenario, r.variant, r.backend): r for r in report.results}
    table = _table("stress verdicts", ("scenario", "variant", "expect", "sim", "real fail (random)",
                                       "under the found timing", "verdict"))
    for verdict in report.verdicts:
        key = (verdict.scenario, verdict.variant)
        style = "green" if verdict.ok else "bold red"
        table.add_row(Text(clean(verdict.scenario)), Text(clean(verdict.variant)), verdict.expect,
                      Text(clean(_sim_cell(by_key.get((*key, "sim"))))),
                      Text(_real_cell(by_key.get((*key, "real")))),
                      Text(clean(_timed_cell(by_key.get((*key, "timed"))))), Text(verdict.verdict, style=style))
    _show(table)
    for verdict in report.verdicts:
        if not verdict.ok:
            say(f"{verdict.scenario}[{verdict.variant}]: {verdict.reason}", "red")
    reals = [r for r in report.results if r.backend == "real"]
    # Outcome tables only where there is more than "pass": a full table per variant drowns the rest.
    for result in reals:
        if all(o.outcome == "pass" for o in result.outcomes):
            continue
        outcomes = _table(f"{result.scenario}[{result.variant}] real outcomes ({result.runs} runs)",
                          ("outcome", "count", "freq", "grade", "message"))
        for row in result.outcomes:
            outcomes.add_row(Text(clean(row.outcome)), str(row.count), f"{row.frequency:.1%}", row.grade,
                             Text(clean(row.message[:100])))
        _show(outcomes)
    if reals:
        levels = sorted({lv.concurrency for r in reals for lv in r.levels})
        speed = _table("real backend: copies/s per worker, speedup (efficiency) vs the lowest level",
                       ("scenario[variant]", *(f"x{level}" for level in levels)))
        for result in reals:
            cells = {lv.concurrency: lv for lv in result.levels}
            row = [Text(clean(f"{result.scenario}[{result.variant}]"))]
            for level in levels:
                lv = cells.get(level)
                if lv is None or lv.copies_per_s is None:
                    row.append(Text("-"))
                else:
                    row.append(Text(f"{lv.copies_per_s:g}/s {lv.speedup or 0:.2f}x ({lv.efficiency or 0:.0%})"))
            speed.add_row(*row)
        _show(speed)
    for result in report.results:
        if result.found is not None:
            say(f"{result.scenario}[{result.variant}] replay: {result.found.replay}")
    for error in report.errors:
        say(f"dispatcher: {error}", "red")
    passed = sum(v.ok for v in report.verdicts)
    state = "interrupted: partial results" if report.interrupted else ("ok" if report.ok else "FAILED")
    say(f"{passed}/{len(report.verdicts)} expectations held in {report.elapsed_s:.1f} s: {state}",
        "bold green" if report.ok else "bold red")
    say(f"reports: {report.summary_path}, {report.log_path}, {report.junit_path}")


@app.command("stress")
def stress_command(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[TARGET...]", help="PATH.py, PATH.py::NAME or NAME (default: every scenario in scenarios/).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="sim, real or both.")] = "both",
    runs: Annotated[str | None, typer.Option("--runs", metavar="N",
                                             help=f"Real runs per variant and level (default {FULL.runs}).")] = None,
    concurrency: Annotated[str | None, typer.Option(
        "--concurrency", metavar="LIST", help="Copies of the scenario at once in one loop, e.g. 1,4,16.")] = None,
    workers: Annotated[str | None, typer.Option("--workers", metavar="N", help="Worker processes (default: CPUs).")] = None,
    timeout: Annotated[str | None, typer.Option(
        "--timeout", metavar="SECONDS", help=f"Kill a run (with its process group) after this (default {FULL.timeout_s:g}).")] = None,
    noise: Annotated[str, typer.Option("--noise", metavar="P", help="Sleep a little at a checkpoint with probability P.")] = "0",
    load: Annotated[str, typer.Option("--load", metavar="N", help="Background CPU-burner processes.")] = "0",
    loop: Annotated[str, typer.Option("--loop", help="Real loop: asyncio or uvloop.")] = "asyncio",
    sim_runs: Annotated[str | None, typer.Option(
        "--sim-runs", metavar="N", help=f"Schedules per variant in simulation (default {FULL.sim_runs}).")] = None,
    timed_runs: Annotated[str | None, typer.Option(
        "--timed-runs", metavar="N", help="Real runs per variant under each failure found for the buggy variant, "
                                          f"as checkpoint durations (default {FULL.timed_runs}; 0: none).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small budgets for CI (options given still win).")] = False,
    report_dir: Annotated[str, typer.Option("--report-dir", metavar="DIR", help="Where reports go.")] = "reports",
    json_output: JsonOption = False,
    html: HtmlOption = False,
    scenarios_dir: ScenariosDirOption = "scenarios",
) -> None:
    """Explore every variant in simulation, run it for real, and check it against its expect."""
    budgets = QUICK if quick else FULL
    options = StressOptions(
        targets=tuple(targets or ()), scenarios_dir=scenarios_dir, backend=backend,
        runs=_count("--runs", runs, budgets.runs),
        concurrency=parse_concurrency(concurrency) if concurrency is not None else budgets.concurrency,
        workers=_count("--workers", workers, default_workers()),
        timeout_s=parse_timeout(timeout) if timeout is not None else budgets.timeout_s,
        noise=parse_noise(noise), load=_count("--load", load, 0, minimum=0), loop=loop,
        sim_runs=_count("--sim-runs", sim_runs, budgets.sim_runs),
        timed_runs=_count("--timed-runs", timed_runs, budgets.timed_runs, minimum=0), report_dir=report_dir,
        quick=quick)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        bar = _Bar(progress_enabled(json_output), lines=not json_output and not err.is_terminal)
        with bar.progress:
            report = run_stress(options, progress=bar)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if report.interrupted:
        real = sum(r.runs for r in report.results if r.backend == "real")
        sim = sum(1 for r in report.results if r.backend == "sim" and r.runs)
        note(f"interrupted: kept {real} finished real run(s) and {sim} exploration(s) in {report.summary_path} "
             f"(marked interrupted), {report.log_path} and {report.junit_path}", "yellow")
        common.interrupt_reported = True
    if json_output:
        emit_json(summary_document(report))
    else:
        _print_report(report)
    if html:
        write_html(summary_document(report), report_dir, json_output)
    if report.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FOUND)
