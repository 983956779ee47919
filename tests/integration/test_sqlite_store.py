"""What only the SQLite store has to show: durability across processes and clear errors."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fnf.errors import StoreError, UsageError
from fnf.models import Client, JobState, JobType, StateUpdate, Status
from fnf.store.sqlite import SQLiteStore


def test_data_survives_reopening(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "fnf.db")
    first.import_clients([Client("a", "A", 1, {"plan": "pro"})])
    first.close()
    again = SQLiteStore(tmp_path / "fnf.db", create=False)
    assert again.list_clients() == [Client("a", "A", 1, {"plan": "pro"})]
    assert again.integrity_check() == "ok"
    again.close()


def test_a_missing_store_is_not_created_unless_asked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no fnf store at"):
        SQLiteStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 200)
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        SQLiteStore(junk)


def test_a_store_from_the_first_schema_gains_the_new_columns_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE clients (id TEXT PRIMARY KEY, name TEXT NOT NULL, stream INTEGER,
                                  position INTEGER NOT NULL, fields TEXT NOT NULL DEFAULT '{}');
            INSERT INTO clients VALUES ('a', 'A', 1, 1, '{}');
            CREATE TABLE client_jobs (client_id TEXT NOT NULL, job_type TEXT NOT NULL, status TEXT NOT NULL,
                job_id TEXT NOT NULL, run_id TEXT NOT NULL, sweep_id TEXT NOT NULL, last_run_date TEXT NOT NULL,
                last_run_seconds REAL, count INTEGER, message TEXT, PRIMARY KEY (client_id, job_type));
            INSERT INTO client_jobs VALUES ('a', 'lead_scoring', 'COMPLETED', 'j', 'r', 's',
                                            '2025-09-20T14:30:22.000Z', 1.5, 3, NULL);
            CREATE TABLE runs (run_id TEXT PRIMARY KEY, run_type TEXT NOT NULL, stream INTEGER NOT NULL,
                job_id TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, boot_id TEXT NOT NULL,
                pid_start TEXT NOT NULL, started_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL, ended_at TEXT,
                outcome TEXT, completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
                timed_out INTEGER NOT NULL DEFAULT 0, remaining INTEGER NOT NULL DEFAULT 0, stopped_at TEXT,
                message TEXT);
            """
        )
    store = SQLiteStore(path, create=False)
    state = store.job_states(JobType.LEAD_SCORING)["a"]
    assert (state.status.value, state.count, state.timeouts_in_row, state.quarantined_at) == ("COMPLETED", 3, 0, None)
    assert store.runs() == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    store.close()


def test_a_read_only_command_reads_states_from_a_store_its_writer_has_not_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "fnf.db"
    store = SQLiteStore(path)
    store.import_clients([Client("a", "A", 1), Client("b", "B", 1)])
    at = datetime(2025, 9, 20, 14, 30, tzinfo=UTC)
    failed = JobState(Status.FAILED, "j", "r", "s", at, 1.5, message="[auth] token expired", failure_kind="auth")
    done = JobState(Status.COMPLETED, "j", "r", "s", at, 0.5, 3, recent_seconds=(0.4, 0.5))
    store.put_states([StateUpdate("a", JobType.LEAD_SCORING, failed), StateUpdate("b", JobType.LEAD_SCORING, done)])
    assert store.job_states(JobType.LEAD_SCORING, 1) == {"a": failed, "b": done}
    store.close()
    with sqlite3.connect(path) as db:  # the store as an fnf without failure kinds left it
        db.execute("ALTER TABLE client_jobs DROP COLUMN failure_kind")
    reader = SQLiteStore(path, readonly=True)
    states = reader.job_states(JobType.LEAD_SCORING, 1)
    assert states == {"a": replace(failed, failure_kind=None), "b": done}
    reader.close()


def test_a_run_reads_four_columns_of_every_state_and_the_full_state_only_of_clients_it_asks_for(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "fnf.db")
    store.import_clients([Client(f"c{i:03d}", f"C{i}", 1) for i in range(200)])
    when = datetime(2026, 1, 1, tzinfo=UTC)
    state = JobState(Status.COMPLETED, "job", "run", "sweep", when, 1.5, 3, recent_seconds=(1.5,))
    store.put_states([StateUpdate(f"c{i:03d}", JobType.LEAD_SCORING, state) for i in range(200)])
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    read = store.run_states(JobType.LEAD_SCORING, 1)
    assert len(read.marks) == 200 and read.marks["c150"].status is Status.COMPLETED
    assert [s for s in statements if "SELECT *" in s] == [], "selection reads no full state"
    assert read.full.get("c007") == state and read.full.get("c007") == state
    assert len([s for s in statements if "SELECT *" in s]) == 1, "one client's row, read once"
    store.close()
