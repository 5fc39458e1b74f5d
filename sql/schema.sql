-- Schema of the blocked-ready-precedence scenario (seed 003_1161f8dafba26699.txt).
-- A minimal model of the task/step tables behind get_task_execution_context().
-- SQLite has no stored functions: `sql_functions` holds each function's body (a query
-- with named parameters), and a migration replaces a body as CREATE OR REPLACE
-- FUNCTION would in PostgreSQL.

CREATE TABLE IF NOT EXISTS tasks (
    task_uuid TEXT PRIMARY KEY,
    name      TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS workflow_steps (
    step_uuid     TEXT PRIMARY KEY,
    task_uuid     TEXT NOT NULL REFERENCES tasks (task_uuid),
    name          TEXT NOT NULL,
    -- pending | in_progress | complete | error
    state         TEXT NOT NULL DEFAULT 'pending',
    retryable     INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 1,
    -- epoch seconds; a failed retryable step is ready again once now >= backoff_until
    backoff_until REAL
);

CREATE TABLE IF NOT EXISTS sql_functions (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY
);
