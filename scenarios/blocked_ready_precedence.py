"""blocked-ready-precedence: a status CASE that checks ready steps before permanent failures.

Seed: ../shared/seeds/003_1161f8dafba26699.txt (the whole RCA "Parallel Execution
Exposing Latent Timing Bugs").

The SQL function `get_task_execution_context()` (here `sql/status_buggy.sql`, stored in
the `sql_functions` table of a real SQLite database used through aiosqlite) tests
`ready_steps > 0` before `permanently_blocked_steps > 0`. The RCA's workflow has three
independent steps: `success_step`, `permanent_error_step` (not retryable) and
`retryable_error_step` (2 attempts, 100 ms backoff), each handler taking 50 ms on the
virtual clock. The E2E test polls the status every 200 ms until it reads
`blocked_by_failures`.

* Sequential dispatch (blocking `handler.call()`): the steps finish at 50, 100 and 150
  ms; the retry is not ready before 250 ms, and the blocking dispatcher claims it the
  moment it is: the poll at 200 ms reads `blocked_by_failures`.
* Parallel dispatch (fire-and-forget): all three finish at 50 ms; the retry is ready
  from 150 ms but is only re-dispatched by the orchestrator's next sweep (250 ms), so
  the poll at 200 ms sees a permanently failed step AND a ready step: the buggy CASE
  answers `has_ready_steps`.

Oracle: once any step is permanently failed, the status is `blocked_by_failures`.
The fix is migration 001 (`sql/migration_001_blocked_first.sql`), which puts
`blocked_by_failures` first. Variants: `buggy` (parallel), `buggy-sequential` (the same
buggy SQL under sequential dispatch: passes, which is why the bug stayed latent) and
`fixed` (parallel, migrated). `benchmarks/rca_table.py` prints the RCA's probability
table from exhaustive exploration of both dispatch modes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiosqlite

import simharness as sh

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
FUNCTION = "get_task_execution_context"
HANDLER_S = 0.05        # each step handler's work
BACKOFF_S = 0.10        # retryable_error_step's backoff after a failed attempt
POLL_S = 0.20           # the E2E test's polling interval
SWEEP_S = 0.25          # parallel orchestrator: how often it re-dispatches ready retries
WAIT_TIMEOUT_S = 10.0   # the E2E test's "max 10s"

Dispatch = Literal["parallel", "sequential"]

#: (dispatch, permanently_blocked > 0, ready > 0, execution_status) of every poll since
#: the last `observations.clear()`; benchmarks/rca_table.py tabulates it.
observations: list[tuple[str, bool, bool, str]] = []


@dataclass(frozen=True)
class Setup:
    """A variant: how steps are dispatched and which migrations the database has."""

    dispatch: Dispatch
    migrations: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepDef:
    name: str
    fails: bool
    retryable: bool
    max_attempts: int


STEPS = (
    StepDef("success_step", fails=False, retryable=False, max_attempts=1),
    StepDef("permanent_error_step", fails=True, retryable=False, max_attempts=1),
    StepDef("retryable_error_step", fails=True, retryable=True, max_attempts=2),
)
TASK = "task-mixed-workflow"

READY = ("(state = 'pending' OR (state = 'error' AND retryable = 1 AND attempts < max_attempts "
         "AND backoff_until <= :now))")


async def migrate(db: aiosqlite.Connection, migrations: tuple[str, ...]) -> None:
    """Create the schema, install the original function, then apply `migrations` in order."""
    await db.executescript((SQL_DIR / "schema.sql").read_text())
    await db.execute("INSERT OR REPLACE INTO sql_functions (name, body) VALUES (?, ?)",
                     (FUNCTION, (SQL_DIR / "status_buggy.sql").read_text()))
    for migration in migrations:
        # Each migration file is the function's new body (CREATE OR REPLACE FUNCTION).
        await db.execute("INSERT OR REPLACE INTO sql_functions (name, body) VALUES (?, ?)",
                         (FUNCTION, (SQL_DIR / migration).read_text()))
        await db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (migration,))
    await db.execute("INSERT INTO tasks (task_uuid, name) VALUES (?, ?)", (TASK, "mixed_workflow"))
    for step in STEPS:
        await db.execute(
            "INSERT INTO workflow_steps (step_uuid, task_uuid, name, retryable, max_attempts) "
            "VALUES (?, ?, ?, ?, ?)", (step.name, TASK, step.name, int(step.retryable), step.max_attempts))


class Orchestrator:
    """Claims ready steps, runs their handlers and records results (its own connection)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.handlers = {step.name: step for step in STEPS}

    async def ready_steps(self) -> list[str]:
        async with self.db.execute(f"SELECT name FROM workflow_steps WHERE task_uuid = :task AND {READY} "
                                   "ORDER BY rowid", {"task": TASK, "now": time.time()}) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def next_backoff(self) -> float | None:
        async with self.db.execute(
                "SELECT MIN(backoff_until) FROM workflow_steps WHERE task_uuid = ? AND state = 'error' "
                "AND retryable = 1 AND attempts < max_attempts", (TASK,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def execute(self, name: str) -> None:
        """Claim, call the handler, record the result: one attempt of one step."""
        await self.db.execute("UPDATE workflow_steps SET state = 'in_progress', attempts = attempts + 1 "
                              "WHERE step_uuid = ?", (name,))
        step = self.handlers[name]
        await asyncio.sleep(HANDLER_S)  # the handler's work
        if not step.fails:
            await self.db.execute("UPDATE workflow_steps SET state = 'complete' WHERE step_uuid = ?", (name,))
        else:
            await self.db.execute("UPDATE workflow_steps SET state = 'error', backoff_until = ? "
                                  "WHERE step_uuid = ?", (time.time() + BACKOFF_S, name))

    async def run_sequential(self) -> None:
        """Before: blocking `handler.call(&step).await`, one step at a time."""
        while True:
            ready = await self.ready_steps()
            if ready:
                await self.execute(ready[0])
                continue
            wake = await self.next_backoff()
            if wake is None:
                return
            await asyncio.sleep(max(0.0, wake - time.time()))

    async def run_parallel(self) -> None:
        """After: fire-and-forget dispatch; ready retries are picked up by the next sweep."""
        in_flight: list[asyncio.Task[None]] = []
        while True:
            for name in await self.ready_steps():
                in_flight.append(asyncio.create_task(self.execute(name)))
            await asyncio.sleep(SWEEP_S)
            if all(task.done() for task in in_flight) and await self.next_backoff() is None:
                break
        await asyncio.gather(*in_flight)


async def get_task_execution_context(db: aiosqlite.Connection) -> dict[str, Any]:
    """Call the stored function (whatever body the migrations left) for the task."""
    # Cursors are closed at once: an unfinished statement would keep a read transaction open.
    async with db.execute("SELECT body FROM sql_functions WHERE name = ?", (FUNCTION,)) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    async with db.execute(row[0], {"task_uuid": TASK, "now": time.time()}) as cursor:
        names = [column[0] for column in cursor.description]
        values = await cursor.fetchone()
    assert values is not None
    return dict(zip(names, values))


async def wait_for_blocked(db: aiosqlite.Connection, dispatch: str) -> None:
    """The E2E test: poll until `blocked_by_failures`, checking the oracle at every poll."""
    started = time.monotonic()
    deadline = started + WAIT_TIMEOUT_S
    while True:
        context = await get_task_execution_context(db)
        status = str(context["execution_status"])
        blocked, ready = context["permanently_blocked_steps"], context["ready_steps"]
        observations.append((dispatch, blocked > 0, ready > 0, status))
        if blocked > 0:
            assert status == "blocked_by_failures", (
                f"task status is {status} at t={time.monotonic() - started:.3f} s "
                f"while {blocked} step(s) are permanently failed and {ready} step(s) are ready "
                f"(retryable_error_step's backoff elapsed): expected blocked_by_failures")
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"task never reached blocked_by_failures (last status {status})")
        await asyncio.sleep(POLL_S)


@sh.scenario(variants={"buggy": Setup("parallel"), "buggy-sequential": Setup("sequential"),
                       "fixed": Setup("parallel", ("migration_001_blocked_first.sql",))},
             expect={"buggy": "fail", "buggy-sequential": "pass", "fixed": "pass"},
             bug={"kind": "assertion", "message": "task status is has_ready_steps .* permanently failed"},
             deterministic=True)  # under parallel dispatch the RCA's bad state shows in every run (the Bohrbug)
async def blocked_ready_precedence(setup: Setup) -> None:
    """Once any step is permanently failed, the task's status is blocked_by_failures."""
    folder = Path(tempfile.mkdtemp(prefix="simharness-rca-"))
    path = str(folder / "tasker.db")
    try:
        async with aiosqlite.connect(path, isolation_level=None) as orchestrator_db:
            await (await orchestrator_db.execute("PRAGMA journal_mode=WAL")).close()
            await migrate(orchestrator_db, setup.migrations)
            # The API (the E2E test's view of the task) has its own connection, opened
            # once the migrations ran, as a separate service would.
            async with aiosqlite.connect(path, isolation_level=None) as api_db:
                orchestrator = Orchestrator(orchestrator_db)
                run = orchestrator.run_parallel if setup.dispatch == "parallel" else orchestrator.run_sequential
                dispatcher = asyncio.create_task(run())
                try:
                    await wait_for_blocked(api_db, setup.dispatch)
                finally:
                    await dispatcher  # the workflow runs to its end either way: no task outlives the run
    finally:
        shutil.rmtree(folder, ignore_errors=True)
