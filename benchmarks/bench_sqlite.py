"""Schedules per second for the aiosqlite read-modify-write race (the README's benchmark row).

Two tasks each add one to a SQLite row through their own aiosqlite connection
(SELECT, await, UPDATE, commit), explored with the random strategy on a real
database file. Usage: `python benchmarks/bench_sqlite.py [RUNS]`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile

import aiosqlite

import simharness as sh
from simharness.engine.realtime import perf_counter
from simharness.scenario import scenario_of

_PATH = os.path.join(tempfile.mkdtemp(prefix="simharness-bench-"), "counter.db")


async def _increment(atomic: bool) -> None:
    async with aiosqlite.connect(_PATH) as db:
        if atomic:
            await db.execute("UPDATE c SET n = n + 1")
        else:
            async with db.execute("SELECT n FROM c") as cursor:
                row = await cursor.fetchone()
            assert row is not None
            await db.execute("UPDATE c SET n = ?", (row[0] + 1,))
        await db.commit()


@sh.scenario(variants={"read-modify-write": False, "atomic-update": True})
async def sqlite_counter(atomic: bool) -> None:
    with sqlite3.connect(_PATH) as db:
        db.executescript("DROP TABLE IF EXISTS c; CREATE TABLE c(n INTEGER); INSERT INTO c VALUES (0);")
    await asyncio.gather(_increment(atomic), _increment(atomic))
    with sqlite3.connect(_PATH) as db:
        (value,) = db.execute("SELECT n FROM c").fetchone()
    assert value == 2, f"lost update: {value}"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    scenario = scenario_of(sqlite_counter)
    # The fixed variant never fails, so every one of the runs is a full schedule.
    started = perf_counter()
    exploration = sh.explore_variant(scenario, "atomic-update", sh.ExploreOptions(strategy="random", runs=runs))
    elapsed = perf_counter() - started
    found = sh.explore_variant(scenario, "read-modify-write", sh.ExploreOptions(strategy="random", runs=runs))
    print(f"aiosqlite race: {exploration.runs / elapsed:.1f} schedules/s "
          f"({exploration.runs} schedules in {elapsed:.2f} s, python {sys.version.split()[0]}); "
          f"buggy variant failed at run {found.failure.run_index if found.failure else 'never'}")


if __name__ == "__main__":
    main()
