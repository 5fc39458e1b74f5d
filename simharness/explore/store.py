"""The failure store: failing schedules remembered across runs, in a small SQLite file.

Every failure an exploration reports is saved with its scenario, variant, the
strategy settings that found it and its (shrunk) schedule; the next exploration of
the same scenario variant replays those first, so a failure seen once (on a laptop,
in CI) is tried again before anything new. The store never fails a run: an entry
that no longer decodes, belongs to another scope, diverges or passes is dropped
with a note, and a store that cannot be opened is skipped with a note.

Location: the `path` given, else the `SIMHARNESS_STORE` environment variable, else
`.simharness/failures.db` under the current directory. `SIMHARNESS_STORE=off`
(or `0`, `none`, empty) turns the store off.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from simharness.errors import ScheduleDecodeError
from simharness.outcome import FoundFailure
from simharness.engine.realtime import wall_time
from simharness.engine.schedule import Schedule

#: Environment variable naming the store file (or `off`).
STORE_ENV = "SIMHARNESS_STORE"
DEFAULT_PATH = Path(".simharness") / "failures.db"
_OFF_VALUES = frozenset({"", "0", "off", "none", "false", "no"})
# Bumped when the table layout changes; an older file is recreated, not migrated.
_SCHEMA_VERSION = 1
# xdist workers can write at the same moment: wait for the lock instead of failing.
_BUSY_TIMEOUT_MS = 10_000


#: What a store operation may raise that must never fail a run.
_STORE_ERRORS = (sqlite3.Error, OSError, OverflowError, ValueError)


class StoreWarning(UserWarning):
    """A failure-store entry was dropped, or the store could not be used."""


@dataclass(frozen=True)
class StoredFailure:
    """One remembered failure: where it happened, how it was found, how to replay it."""

    scenario: str
    variant: str
    schedule: str
    kind: str
    strategy: str = ""
    seed: int = 0
    depth: int = 0
    runs: int = 0
    run_index: int = 0
    recorded_at: float = 0.0


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The store file to use: `path`, else `$SIMHARNESS_STORE`, else the default; None = off."""
    if path is not None:
        text = os.fspath(path)
        return None if text.strip().lower() in _OFF_VALUES else Path(text)
    configured = os.environ.get(STORE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in _OFF_VALUES else Path(configured)
    return DEFAULT_PATH


def warn(note: str) -> None:
    """Emit `note` as a `StoreWarning`, even where warnings are errors (a store never fails a run)."""
    try:
        warnings.warn(note, StoreWarning, stacklevel=3)
    except Warning:
        pass


def _parse_row(row: tuple[object, ...]) -> StoredFailure:
    """One `failures` row as a `StoredFailure`; TypeError/ValueError when a field has the wrong type."""
    if len(row) != 10:
        raise ValueError(f"row has {len(row)} fields, not 10")
    texts = row[:5]
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("scenario, variant, schedule, kind and strategy must be text")
    numbers = row[6:9]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise TypeError("depth, runs and run_index must be integers")
    if not isinstance(row[9], (int, float)):
        raise TypeError("recorded_at must be a number")
    seed = int(str(row[5]))
    return StoredFailure(*texts, seed, *numbers, float(row[9]))  # type: ignore[arg-type]


class FailureStore:
    """Remembered failures in one SQLite file (opened per operation: safe across processes)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def default(cls) -> FailureStore | None:
        """The store `SIMHARNESS_STORE` or the default location names, or None if turned off."""
        path = resolve_path()
        return cls(path) if path is not None else None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as db:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            self._ensure_schema(db)
            yield db

    @staticmethod
    def _ensure_schema(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == _SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS failures")
                db.execute(
                    "CREATE TABLE failures (scenario TEXT NOT NULL, variant TEXT NOT NULL, "
                    "schedule TEXT NOT NULL, kind TEXT NOT NULL, strategy TEXT NOT NULL, seed TEXT NOT NULL, "
                    "depth INTEGER NOT NULL, runs INTEGER NOT NULL, run_index INTEGER NOT NULL, "
                    "recorded_at REAL NOT NULL, PRIMARY KEY (scenario, variant, schedule))"
                )
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def record(self, failure: StoredFailure) -> None:
        """Save `failure` (again): a schedule already stored for its scenario variant is refreshed."""
        # Seeds are 64-bit unsigned (derived seeds): TEXT, since SQLite integers are signed.
        row = (failure.scenario, failure.variant, failure.schedule, failure.kind, failure.strategy,
               str(failure.seed), failure.depth, failure.runs, failure.run_index, failure.recorded_at or wall_time())
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def entries(self, scenario: str | None = None, variant: str | None = None,
                malformed: list[tuple[object, object, object, str]] | None = None) -> list[StoredFailure]:
        """Stored failures, newest first, optionally of one scenario (and variant).

        A row that does not hold what `record` writes (edited by hand, another tool) is
        left out; its key and why go to `malformed` when a list is given.
        """
        query = "SELECT * FROM failures"
        where: list[str] = []
        args: list[str] = []
        if scenario is not None:
            where.append("scenario = ?")
            args.append(scenario)
        if variant is not None:
            where.append("variant = ?")
            args.append(variant)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY recorded_at DESC, schedule", args).fetchall()
        found: list[StoredFailure] = []
        for row in rows:
            try:
                found.append(_parse_row(row))
            except (TypeError, ValueError, OverflowError) as error:
                if malformed is not None:
                    malformed.append((row[0], row[1], row[2], str(error)))
        return found

    def drop(self, scenario: str, variant: str, schedule: str) -> None:
        """Forget one stored failure (no error if it is not there)."""
        with self._connect() as db:
            db.execute("DELETE FROM failures WHERE scenario = ? AND variant = ? AND schedule = ?",
                       (scenario, variant, schedule))

    def clear(self) -> int:
        """Forget everything; return how many entries there were."""
        with self._connect() as db:
            return db.execute("DELETE FROM failures").rowcount


#: What `store=` accepts: a store, a path (or "off"), or None for no store.
StoreArg = Union[FailureStore, str, "os.PathLike[str]", None]


def open_store(store: StoreArg) -> FailureStore | None:
    """A `FailureStore` from a store, a path, or None (None and "off" mean no store)."""
    if store is None or isinstance(store, FailureStore):
        return store
    path = resolve_path(store)
    return FailureStore(path) if path is not None else None


class StoreSession:
    """The store as one exploration uses it: what it replays, what it drops and records.

    Every store error becomes a note: an exploration never fails because of its store.
    """

    def __init__(self, store: FailureStore | None, scenario: str, variant: str) -> None:
        self.store = store
        self.scenario = scenario
        self.variant = variant
        self.schedules: tuple[Schedule, ...] = ()
        self.notes: list[str] = []
        self._texts: dict[str, StoredFailure] = {}

    @classmethod
    def open(cls, store: StoreArg, scenario: str, variant: str) -> StoreSession:
        """Open `store` and load the remembered schedules of `scenario` / `variant`."""
        session = cls(None, scenario, variant)
        try:
            session.store = open_store(store)
            if session.store is None:
                return session
            malformed: list[tuple[object, object, object, str]] = []
            entries = session.store.entries(scenario, variant, malformed)
        except _STORE_ERRORS as error:
            session._unusable(error)
            return session
        for key in malformed:  # one bad row is dropped alone; the rest of the store stays in use
            session._drop(StoredFailure(*(str(k) for k in key[:3]), kind=""), f"malformed row ({key[3]})",
                          raw_key=key[:3])
        kept: list[Schedule] = []
        for entry in entries:
            try:
                decoded = Schedule.decode(entry.schedule)
                decoded.check_scope(scenario, variant)
            except (ScheduleDecodeError, TypeError, ValueError, AttributeError) as error:
                session._drop(entry, f"it no longer decodes ({error})")
                continue
            session._texts[decoded.encode()] = entry
            kept.append(decoded)
        session.schedules = tuple(kept)
        return session

    def holds(self, schedule: Schedule) -> bool:
        """Whether `schedule` came from the store (rather than from the caller's `first`)."""
        return schedule.encode() in self._texts

    def forget(self, schedule: Schedule, reason: str, *, fixed: bool = False) -> None:
        """Drop a stored schedule that no longer reproduces its failure.

        `fixed`: it ran and passed, the expected end of a fixed bug (a note, no warning).
        """
        entry = self._texts.pop(schedule.encode(), None)
        if entry is not None:
            self._drop(entry, reason, expected=fixed)

    def remember(self, failure: FoundFailure, *, strategy: str, seed: int, depth: int, runs: int,
                 superseded: Schedule | None = None) -> None:
        """Record the failure an exploration found (replacing the stored one it shrank from)."""
        if self.store is None:
            return
        entry = StoredFailure(scenario=self.scenario, variant=self.variant, schedule=failure.schedule,
                              kind=failure.kind, strategy=strategy, seed=seed, depth=depth, runs=runs,
                              run_index=failure.run_index, recorded_at=wall_time())
        try:
            self.store.record(entry)
            if superseded is not None and superseded.encode() != failure.schedule:
                self.store.drop(self.scenario, self.variant, superseded.encode())
        except _STORE_ERRORS as error:
            self._unusable(error)

    def _drop(self, entry: StoredFailure, reason: str, *, expected: bool = False,
              raw_key: tuple[object, ...] | None = None) -> None:
        note = f"failure store: dropped {entry.scenario} --variant {entry.variant} {entry.schedule}: {reason}"
        try:
            if self.store is not None:
                self.store.drop(*(raw_key or (entry.scenario, entry.variant, entry.schedule)))  # type: ignore[arg-type]
        except _STORE_ERRORS as error:
            self._unusable(error)
        if not expected:
            warn(note)
        self.notes.append(note)

    def _unusable(self, error: BaseException) -> None:
        where = self.store.path if self.store is not None else "the failure store"
        note = f"failure store {where} not used: {type(error).__name__}: {error}"
        self.store = None
        warn(note)
        self.notes.append(note)
