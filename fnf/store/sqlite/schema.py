"""The SQLite store's tables, their upgrades in place, and reading whether a file is current."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from fnf.errors import StoreError

SCHEMA_VERSION = 2

BUSY_SECONDS = 30.0
"""How long a write waits for another process's transaction before it gives up."""

_ADDED_COLUMNS = {
    "client_jobs": {
        "timeouts_in_row": "INTEGER NOT NULL DEFAULT 0",
        "quarantined_at": "TEXT",
        "alert_kind": "TEXT",
        "alert_at": "TEXT",
        "recent_seconds": "TEXT NOT NULL DEFAULT ''",
        "failure_kind": "TEXT",
    },
    "runs": {"alerts": "TEXT", "skipped": "INTEGER NOT NULL DEFAULT 0", "failure_kinds": "TEXT NOT NULL DEFAULT ''"},
    "leases": {"beat": "TEXT NOT NULL DEFAULT ''"},
}
"""Columns added since schema version 1, added in place to an older store when it is opened."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stream INTEGER CHECK (stream IS NULL OR stream > 0),
    position INTEGER NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS clients_stream ON clients (stream, position);
CREATE TABLE IF NOT EXISTS client_jobs (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    job_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    sweep_id TEXT NOT NULL,
    last_run_date TEXT NOT NULL,
    last_run_seconds REAL,
    count INTEGER,
    message TEXT,
    timeouts_in_row INTEGER NOT NULL DEFAULT 0,
    quarantined_at TEXT,
    alert_kind TEXT,
    alert_at TEXT,
    recent_seconds TEXT NOT NULL DEFAULT '',
    failure_kind TEXT,
    PRIMARY KEY (client_id, job_type)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    job_type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    number INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    closed_at TEXT,
    close_reason TEXT
);
CREATE INDEX IF NOT EXISTS sweeps_open ON sweeps (job_type, stream, closed_at);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    run_type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    pid_start TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    timed_out INTEGER NOT NULL DEFAULT 0,
    remaining INTEGER NOT NULL DEFAULT 0,
    stopped_at TEXT,
    message TEXT,
    alerts TEXT,
    failure_kinds TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE TABLE IF NOT EXISTS leases (
    job_type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    stale_after_seconds REAL NOT NULL,
    beat TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_type, stream)
);
"""


_OPTIONAL_FOR_READING = {("leases", "beat"), ("client_jobs", "failure_kind"), ("runs", "failure_kinds")}
"""Columns a read-only command does without (it reads a store a writer has not upgraded yet)."""


def current(db: sqlite3.Connection, *, reading: bool = False) -> bool:
    """True if the store already has this version's tables and columns (read without writing)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:
        return False  # a new file: no meta table yet
    if row is None or row[0] != str(SCHEMA_VERSION):
        return False
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        needed = {c for c in columns if not (reading and (table, c) in _OPTIONAL_FOR_READING)}
        if not needed <= have:
            return False
    return True


def create_private(path: Path) -> None:
    """Create the store readable by its owner only: it holds client data. SQLite gives its -wal
    and -shm files the same permissions as the database file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the SQLite store {str(path)!r}: {exc.strerror}; check FNF_DB") from exc


def identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)
