"""`simharness confirm`: a found failure on the stock runtime, under its checkpoint durations."""

from __future__ import annotations

from typing import Annotated

import typer

from simharness.cli.app import app
from simharness.cli.common import EXIT_FOUND, EXIT_OK, JsonOption, ScenariosDirOption, emit_json, note, say
from simharness.cli.core import DEFAULT_SCENARIOS_DIR, _one_variant, _resolve
from simharness.discovery import only_one
from simharness.engine.schedule import Schedule
from simharness.errors import ConfigError
from simharness.real.confirm import MAX_RUNS, Confirmation, confirm


def _delays_text(confirmation: Confirmation) -> str:
    delays = confirmation.timing.delays
    return "{" + ", ".join(f"{d.label}: {d.seconds * 1000:.0f} ms" for d in delays) + "}" if delays else "{}"


def _document(target: str, confirmation: Confirmation) -> dict[str, object]:
    timing = confirmation.timing
    return {"target": target, "scenario": timing.scenario, "variant": timing.variant, "kind": timing.kind,
            "message": timing.message, "python": confirmation.python, "runs": len(confirmation.runs),
            "matched": confirmation.matched, "confirmed": confirmation.confirmed,
            "delays": [{"checkpoint": d.name, "task": d.task, "seconds": d.seconds} for d in timing.delays],
            "statement": timing.statement(), "plan_schedule": timing.plan_schedule,
            "other_failures": [{"kind": r.kind, "message": r.message} for r in confirmation.other_failures]}


@app.command("confirm")
def confirm_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="PATH.py, PATH.py::NAME or NAME (one scenario).")],
    schedule: Annotated[str, typer.Option("--schedule", metavar="SCHEDULE", help="A failing schedule (explore).")],
    variant: Annotated[str | None, typer.Option(
        "--variant", "-v", help="Variant the schedule was recorded for (optional if the scenario has one).")] = None,
    runs: Annotated[int, typer.Option("--runs", metavar="N", help=f"Stock runs (1 to {MAX_RUNS}, default 20).")] = 20,
    step_ms: Annotated[int, typer.Option(
        "--step-ms", metavar="MS", help="Spacing of slow checkpoints on the real clock (5 to 5000, default 30).")] = 30,
    json_output: JsonOption = False,
    scenarios_dir: ScenariosDirOption = DEFAULT_SCENARIOS_DIR,
) -> None:
    """Run a failure found in simulation on plain asyncio, its checkpoints taking the found durations.

    Exit 1 when the stock runtime shows the same failure (confirmed), 0 when it never
    does (a possible defect of simharness), 2 when the schedule does not fit or its
    failure needs a choice with no stock equivalent.
    """
    if not 1 <= runs <= MAX_RUNS:
        raise ConfigError(f"--runs must be from 1 to {MAX_RUNS}, got {runs}")
    if not 5 <= step_ms <= 5000:
        raise ConfigError(f"--step-ms must be from 5 to 5000, got {step_ms}")
    Schedule.decode(schedule)  # a broken schedule is an error before anything loads
    scenario = only_one(_resolve(target, scenarios_dir))
    chosen = _one_variant(scenario, variant)
    scenario.check_variant(chosen)
    confirmation = confirm(scenario, chosen, schedule, runs=runs, step_s=step_ms / 1000)
    if json_output:
        emit_json(_document(target, confirmation))
    else:
        timing = confirmation.timing
        say(f"{timing.scenario} [{timing.variant}]: {timing.kind}: {timing.message.splitlines()[0]}")
        note(f"in stock terms: {timing.statement()}")
        count = f"{confirmation.matched}/{len(confirmation.runs)}"
        if confirmation.confirmed:
            say(f"confirmed on stock asyncio {confirmation.python}: {count} with delays {_delays_text(confirmation)}",
                "bold red")
        else:
            say(f"NOT confirmed on stock asyncio {confirmation.python}: {count} with delays "
                f"{_delays_text(confirmation)}: a possible defect of simharness (the faithful mode found an "
                "order the stock runtime did not show); please report it", "bold yellow")
        for run in confirmation.other_failures[:3]:
            note(f"a stock run failed otherwise: {run.kind}: {run.message.splitlines()[0] if run.message else ''}",
                 "yellow")
    raise typer.Exit(EXIT_FOUND if confirmation.confirmed else EXIT_OK)
