"""`explore --workers/--count-outcomes/--shard/--cluster` and `simharness merge`.

The options' parsing, the executor they choose, the outcome table as text, and the
merge command. Everything else (what runs, what the result means) lives in
`simharness.explore` (campaign, workers, cluster, merge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from simharness.errors import ConfigError
from simharness.explore.campaign import Executor, Shard
from simharness.explore.merge import merge_documents, read_documents
from simharness.explore.serialize import exploration_document
from simharness.outcome import Exploration, OutcomeRow
from simharness.cli import render
from simharness.cli.app import app
from simharness.cli.common import EXIT_FOUND, EXIT_OK, JsonOption, emit_json, note, say

WorkersOption = Annotated[str | None, typer.Option(
    "--workers", "-j", metavar="N", help="Run schedules in N worker processes ('auto' = CPUs); a schedule "
    "that kills its process is then reported as a crash. Default: in this process. The result does not depend on N.")]
CountOption = Annotated[bool, typer.Option(
    "--count-outcomes", help="Run all N schedules and count each distinct outcome (pass, each failure "
    "kind and message) with its first run, instead of stopping at the first failure.")]
ShardOption = Annotated[str | None, typer.Option(
    "--shard", metavar="K/N", help="Run only run indices K, K+N, K+2N, ... (combine with simharness merge).")]
ClusterOption = Annotated[str | None, typer.Option(
    "--cluster", metavar="ADDRESS", help="Send batches of schedules to a Dask cluster (tcp://host:8786), or "
    "'local' to start one on this machine with --workers workers (needs simharness[cluster]).")]

#: Failure messages longer than this are cut in the outcome table (JSON keeps them whole).
MESSAGE_WIDTH = 120


def parse_shard(text: str | None) -> Shard | None:
    return Shard.parse(text) if text is not None else None


def open_executor(workers: str | None, cluster: str | None) -> Executor | None:
    """The executor the options ask for (None: this process). The caller closes it."""
    from simharness.explore.workers import ProcessPool, parse_workers

    count, capped = parse_workers(workers) if workers is not None else (1, None)
    if capped:
        note(capped, "yellow")
    if cluster is not None:
        from simharness.explore.cluster_driver import ClusterExecutor
        if cluster == "local":
            return ClusterExecutor.local(count if workers is not None else 2)
        if workers is not None:
            raise ConfigError("--workers sets the size of --cluster local; a remote cluster has its own workers")
        return ClusterExecutor.connect(cluster)
    # Without --workers: this process (fastest start). With --workers N, even 1: worker
    # processes, so a schedule that kills its process is a crash outcome, not the tool's end.
    return ProcessPool(count) if workers is not None else None


def check_strategy(strategy: str, workers: str | None, shard: str | None, cluster: str | None) -> None:
    """dfs and fifo choose schedules in sequence: refuse what would spread them out."""
    if strategy in ("dfs", "fifo") and (cluster is not None or shard is not None or workers is not None):
        raise ConfigError(f"--strategy {strategy} chooses each schedule from the ones before it and runs in one "
                          "process: use portfolio, random or pct with --workers, --shard or --cluster")


def _row_text(row: OutcomeRow) -> str:
    if row.outcome == "pass":
        return "pass"
    message = " ".join(row.first_message.split())
    if len(message) > MESSAGE_WIDTH:
        message = message[:MESSAGE_WIDTH - 3] + "..."
    return f"{row.kind}: {message}"


def outcome_table(exploration: Exploration, replay: Callable[[str], str] | None = None) -> None:
    """The counted outcomes of one variant, JCStress style: count, share, first run, outcome."""
    total = sum(row.count for row in exploration.outcomes)
    head = f"{exploration.scenario} [{exploration.variant}]"
    seeded = exploration.strategy in ("random", "pct", "portfolio")
    how = ", ".join([exploration.strategy] + ([f"seed {exploration.seed}"] if seeded else [])
                    + [f"{exploration.elapsed_s:.2f} s"])
    failing = sum(row.count for row in exploration.outcomes if row.outcome != "pass")
    style = "bold red" if failing else "green"
    say(f"{head} outcomes of {total} runs ({how}): {total - failing} passed, {failing} failed", style)
    say(f"  {'count':>9} {'share':>7} {'first run':>10}  outcome")
    for row in exploration.outcomes:
        share = 100.0 * row.count / total if total else 0.0
        say(f"  {row.count:>9} {share:>6.2f}% {row.first_run:>10}  {_row_text(row)}")
        if row.outcome != "pass" and replay is not None and row.first_schedule:
            say(f"  {'':>29}  first schedule: {row.first_schedule}")


def crash_note(exploration: Exploration) -> None:
    """A crash is reported, not explained: replaying it here would end this process too."""
    if exploration.failure is not None and exploration.failure.kind == "crash":
        note("note: this schedule killed the worker process running it; the schedule holds the decisions "
             "made before it died (replaying it runs it in that process)", "yellow")


@app.command("merge")
def merge_command(
    files: Annotated[list[str], typer.Argument(
        metavar="FILE", help="Results of explore --shard K/N --json, one per shard.")],
    json_output: JsonOption = False,
) -> None:
    """Combine shard results into one: the failure with the lowest run index, outcome tables added."""
    target, explorations, replays = merge_documents(read_documents(files))

    def replay_line(exploration: Exploration) -> str:
        assert exploration.failure is not None
        return replays.get(exploration.failure.schedule, "")

    if json_output:
        emit_json(exploration_document(target, explorations, replay=replay_line))
    else:
        for exploration in explorations:
            info = exploration.campaign
            if info is not None and info.count_all:
                outcome_table(exploration, replay=lambda s: s)
            else:
                render.exploration_outcome(exploration, info.planned if info else exploration.runs,
                                           replay_line(exploration) if exploration.failure else None)
            crash_note(exploration)
    raise typer.Exit(EXIT_FOUND if any(e.failed for e in explorations) else EXIT_OK)
