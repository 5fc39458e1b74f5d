"""db-lost-update: "set status" and "increment login_count" overwrite each other's row.

Seed: ../shared/seeds/002_c8f9ea50bfbd3a4d.txt, "Race Conditions", cause 2 "Database
race condition" ("Parallel: Set user.status="active", Increment user.login_count.
Good: Sequential: Update user (set status, increment count) in transaction"), and
"Common Error Messages", "Database deadlock detected".

A real SQLite database through aiosqlite, one connection per operation (each operation
is its own transaction, as parallel agents would be). The buggy operations load the
user row, change one field in Python and save the whole row back (ORM-style): two
loads before either save lose one change. Two fixes are modelled: atomic statements
(`UPDATE users SET login_count = login_count + 1`), and the read-modify-write inside one
`BEGIN IMMEDIATE` transaction, which makes the others wait on SQLite's lock.

Intermittent, as in the seed (it fails "when run in parallel", not on every run): the
requests arrive 20 ms apart and each operation usually commits well within that, so the
default order (the stock run) passes; a change is lost when an operation's audit call
(`sh.checkpoint()`, between its load and its save) takes longer than the gap.

Oracle: the final row has status "active" and login_count equal to the number of logins.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

import simharness as sh

USER_ID = 1
#: Parallel logins, each incrementing login_count once, beside one "set status" edit.
LOGINS = 2
#: The requests arrive this far apart: each operation usually commits (a few ms of real
#: SQLite work) before the next one loads the row. Longer than the 10 ms a thread's
#: result may lag in simulation, so only a slow audit call bridges the gap.
ARRIVAL_GAP_S = 0.02


@dataclass
class User:
    """The row as an ORM would load it."""

    status: str
    login_count: int


async def load_user(db: aiosqlite.Connection) -> User:
    async with db.execute("SELECT status, login_count FROM users WHERE id = ?", (USER_ID,)) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return User(status=row[0], login_count=row[1])


async def save_user(db: aiosqlite.Connection, user: User) -> None:
    """Write the whole row back, as an ORM's save() does."""
    await db.execute("UPDATE users SET status = ?, login_count = ? WHERE id = ?",
                     (user.status, user.login_count, USER_ID))


async def notify_audit(event: str) -> None:
    """The request handler tells the audit service (a round trip of unknown duration)."""
    await sh.checkpoint(f"audit service records the {event}")


class ReadThenWrite:
    """The bug: read the row, change it in Python, write it back in a later transaction."""

    async def set_status(self, db: aiosqlite.Connection) -> None:
        user = await load_user(db)
        user.status = "active"
        await notify_audit("status change")
        await save_user(db, user)
        await db.commit()

    async def record_login(self, db: aiosqlite.Connection) -> None:
        user = await load_user(db)
        user.login_count += 1
        await notify_audit("login")
        await save_user(db, user)
        await db.commit()


class AtomicUpdates:
    """Fix 1: each change is one atomic statement; SQLite computes the new value."""

    async def set_status(self, db: aiosqlite.Connection) -> None:
        await notify_audit("status change")
        await db.execute("UPDATE users SET status = 'active' WHERE id = ?", (USER_ID,))
        await db.commit()

    async def record_login(self, db: aiosqlite.Connection) -> None:
        await notify_audit("login")
        await db.execute("UPDATE users SET login_count = login_count + 1 WHERE id = ?", (USER_ID,))
        await db.commit()


class OneTransaction(ReadThenWrite):
    """Fix 2: the same read-modify-write, inside one write transaction taken up front (the
    audit call stays outside it: a transaction held across a slow call blocks every writer)."""

    async def set_status(self, db: aiosqlite.Connection) -> None:
        await notify_audit("status change")
        await db.execute("BEGIN IMMEDIATE")
        user = await load_user(db)
        user.status = "active"
        await save_user(db, user)
        await db.commit()

    async def record_login(self, db: aiosqlite.Connection) -> None:
        await notify_audit("login")
        await db.execute("BEGIN IMMEDIATE")
        user = await load_user(db)
        user.login_count += 1
        await save_user(db, user)
        await db.commit()


def create_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, status TEXT NOT NULL, "
                   "login_count INTEGER NOT NULL)")
        db.execute("INSERT INTO users VALUES (?, 'inactive', 0)", (USER_ID,))
    db.close()


async def in_own_connection(path: Path, operation: str, operations: ReadThenWrite | AtomicUpdates,
                            arrives_after_s: float) -> None:
    await asyncio.sleep(arrives_after_s)  # the request that triggers it comes in then
    async with aiosqlite.connect(path) as db:
        await getattr(operations, operation)(db)


@sh.scenario(variants={"buggy": ReadThenWrite, "fixed": AtomicUpdates, "fixed-transaction": OneTransaction},
             expect={"buggy": "fail", "fixed": "pass", "fixed-transaction": "pass"},
             bug={"kind": "assertion", "message": "lost update on users row"})
async def db_lost_update(make_operations: type[ReadThenWrite] | type[AtomicUpdates]) -> None:
    """Set status and record logins in parallel; the row must show every change."""
    operations = make_operations()
    with tempfile.TemporaryDirectory(prefix="simharness-db-") as folder:
        path = Path(folder) / "app.db"
        create_database(path)
        work = ["set_status"] + ["record_login"] * LOGINS
        await asyncio.gather(*(in_own_connection(path, name, operations, index * ARRIVAL_GAP_S)
                               for index, name in enumerate(work)))
        async with aiosqlite.connect(path) as db:
            user = await load_user(db)
    problems = []
    if user.status != "active":
        problems.append(f"status is {user.status!r}, the 'set status' update was lost")
    if user.login_count != LOGINS:
        problems.append(f"login_count is {user.login_count} after {LOGINS} logins")
    assert not problems, "lost update on users row: " + "; ".join(problems)
