"""aiosqlite under the controlled loop: a real SQLite file, exact replay, lock waits on virtual time.

The scenarios live in this file; a fresh interpreter loads it as a scenario file to
check that a schedule replays with the same trace hash in another process.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import aiosqlite

import simharness as sh
import simharness.world.sqlite  # noqa: F401  (registers the SQLite adapter)
from simharness import ExploreOptions, explore_variant, replay
from simharness.scenario import scenario_of
from simharness.engine.strategies import FifoStrategy

ROOT = Path(__file__).resolve().parent.parent
_DIR = tempfile.mkdtemp(prefix="simharness-sqlite-")
#: Which task committed first, per run of `commit-order` (read by the tests in this process).
COMMIT_ORDERS: list[tuple[str, ...]] = []


def _fresh_db(name: str) -> str:
    """A database file holding one counter row `c.n = 0` (set up synchronously)."""
    path = os.path.join(_DIR, f"{name}.db")
    with sqlite3.connect(path) as db:
        db.executescript("DROP TABLE IF EXISTS c; CREATE TABLE c(n INTEGER); INSERT INTO c VALUES (0);")
    return path


async def _read(path: str) -> int:
    async with aiosqlite.connect(path) as db:
        async with db.execute("SELECT n FROM c") as cursor:
            row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _increment(path: str, atomic: bool, log: list[str]) -> None:
    async with aiosqlite.connect(path) as db:
        if atomic:
            await db.execute("UPDATE c SET n = n + 1")
        else:  # read-modify-write: SELECT, await, UPDATE
            async with db.execute("SELECT n FROM c") as cursor:
                row = await cursor.fetchone()
            assert row is not None
            await db.execute("UPDATE c SET n = ?", (row[0] + 1,))
        await db.commit()
        task = asyncio.current_task()
        log.append(task.get_name() if task else "?")


@sh.scenario(variants={"read-modify-write": False, "atomic-update": True},
             expect={"read-modify-write": "fail"})
async def sqlite_counter(atomic: bool) -> None:
    """Two tasks each add one to a row through their own aiosqlite connection."""
    path = _fresh_db("counter")
    log: list[str] = []
    await asyncio.gather(_increment(path, atomic, log), _increment(path, atomic, log))
    COMMIT_ORDERS.append(tuple(log))
    value = await _read(path)
    assert value == 2, f"lost update: counter is {value} after two increments (commits: {log})"


@sh.scenario(settle_timeout_s=10.0)
async def sqlite_blocked_update() -> None:
    """B's UPDATE waits for A's open write transaction, which commits at virtual t=1."""
    path = _fresh_db("blocked")
    loop = asyncio.get_running_loop()
    a_holds_lock = asyncio.Event()

    async def writer_a() -> None:
        async with aiosqlite.connect(path) as db:
            await db.execute("UPDATE c SET n = n + 10")
            a_holds_lock.set()
            await asyncio.sleep(1)
            await db.commit()

    async def writer_b() -> float:
        # A 60 s busy timeout: a loop that waited for SQLite in real time would hit
        # the 10 s settle budget and fail the run.
        async with aiosqlite.connect(path, timeout=60) as db:
            await a_holds_lock.wait()
            await db.execute("UPDATE c SET n = n * 2")
            updated_at = loop.time()
            await db.commit()
            return updated_at

    _, b_updated_at = await asyncio.gather(writer_a(), writer_b())
    assert b_updated_at == 1.0, f"B's UPDATE finished at t={b_updated_at}, expected when A committed"
    assert await _read(path) == 20


@sh.scenario
async def sqlite_lock_deadline() -> None:
    """A transaction never ends: the other connection's busy timeout fires on the virtual clock."""
    path = _fresh_db("deadline")
    loop = asyncio.get_running_loop()
    async with aiosqlite.connect(path) as first, aiosqlite.connect(path, timeout=3) as second:
        await first.execute("UPDATE c SET n = 1")
        try:
            await second.execute("UPDATE c SET n = 2")
        except sqlite3.OperationalError as error:
            assert "locked" in str(error)
            assert loop.time() == 3.0, f"busy timeout fired at t={loop.time()}"
        else:
            raise AssertionError("second connection wrote while the first held the lock")
        await first.rollback()


def _replay_in_fresh_process(name: str, variant: str, schedule: str) -> str:
    code = ("import sys, simharness as sh\n"
            "s = {x.name: x for x in sh.load_file(sys.argv[1])}[sys.argv[2]]\n"
            "print(sh.replay(s, sys.argv[3], sys.argv[4]).trace_hash)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"}
    done = subprocess.run([sys.executable, "-c", code, __file__, name, variant, schedule],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_read_modify_write_race_is_found_and_replays_in_a_fresh_process() -> None:
    scenario = scenario_of(sqlite_counter)
    exploration = explore_variant(scenario, "read-modify-write", ExploreOptions(strategy="pct", runs=50))
    assert exploration.failure is not None
    assert exploration.failure.kind == "assertion" and "lost update" in exploration.failure.message
    again = replay(scenario, "read-modify-write", exploration.failure.schedule)
    assert again.failed and again.trace_hash == exploration.failure.trace_hash
    assert _replay_in_fresh_process("sqlite-counter", "read-modify-write",
                                    exploration.failure.schedule) == exploration.failure.trace_hash


def test_atomic_update_fixes_the_race_and_the_explorer_varies_commit_order() -> None:
    COMMIT_ORDERS.clear()
    exploration = explore_variant(scenario_of(sqlite_counter), "atomic-update",
                                  ExploreOptions(strategy="random", runs=30, seed=1))
    assert exploration.failure is None and exploration.runs == 30
    assert set(COMMIT_ORDERS) == {("Task-2", "Task-3"), ("Task-3", "Task-2")}


def test_blocked_update_waits_for_the_commit_on_virtual_time_and_replays_exactly() -> None:
    scenario = scenario_of(sqlite_blocked_update)
    first = sh.run_strategy(scenario, "default", FifoStrategy())
    assert first.failure is None, first.failure
    assert first.virtual_time == 1.0
    exploration = explore_variant(scenario, "default", ExploreOptions(strategy="random", runs=10))
    assert exploration.failure is None
    assert _replay_in_fresh_process("sqlite-blocked-update", "default",
                                    first.schedule.encode()) == first.trace_hash


def test_lock_never_released_fails_at_the_virtual_busy_timeout() -> None:
    result = sh.run_strategy(scenario_of(sqlite_lock_deadline), "default", FifoStrategy())
    assert result.failure is None, result.failure
    assert result.virtual_time == 3.0


def test_real_runtime_is_untouched_outside_simulation() -> None:
    async def main() -> type:
        async with aiosqlite.connect(_fresh_db("real")) as db:
            return type(db._conn)  # the sqlite3 connection aiosqlite made

    assert sqlite3.connect is simharness.world.sqlite._REAL_CONNECT
    assert asyncio.run(main()) is sqlite3.Connection
