"""Talking to the SQLite file: opening it, transactions, and errors an operator can act on."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fnf.errors import StoreError, StoreUnavailableError
from fnf.store.sqlite.schema import _ADDED_COLUMNS, _SCHEMA, BUSY_SECONDS, SCHEMA_VERSION, current, identity


class Connection:
    """One connection to the store's file: opened writable (upgrading the schema if needed) or
    read-only; transactions that check the file is still the one opened and explain failures."""

    def __init__(self, path: Path, *, readonly: bool, busy: float) -> None:
        self.path = path
        self.busy = busy
        memory = str(path) == ":memory:"
        self._identity: tuple[int, int] | None = None
        try:
            self._db = read_only(self.path) if readonly and not memory else self._writable(str(path))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the SQLite store {str(self.path)!r}: {explain(exc)}") from exc
        self._identity = identity(self.path) if not memory else None

    @property
    def db(self) -> sqlite3.Connection:
        return self._db

    def _writable(self, path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, timeout=self.busy)
        self._db = db
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        if current(db):
            return db  # nothing to create or add: opening writes nothing, so a busy store does not wait
        with self.tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, columns in _ADDED_COLUMNS.items():
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for column, kind in columns.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return db

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.check_identity()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error("cannot write", exc) from exc
        try:
            yield self._db
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error("cannot write", exc) from exc
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error("could not commit to", exc) from exc

    def _error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        """A lock held too long may pass (a run stops interrupted and resumes); the rest will not.

        After a failed write (a full disk, most often) the journal is emptied into the store, so
        that the few writes that follow (the states in hand, the run's end) find room: a run that
        failed for lack of space says so, instead of being found dead later.
        """
        text = f"{doing} the SQLite store {str(self.path)!r}: {explain(exc, self.path, self.busy)}"
        if _locked(exc):
            return StoreUnavailableError(text)
        self._reclaim_journal()
        return StoreError(text)

    def _reclaim_journal(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass  # nothing more to free: the error already raised says why

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Within the block a write waits at most ``seconds`` for another process's lock."""
        self._db.execute(f"PRAGMA busy_timeout = {int(min(seconds, self.busy) * 1000)}")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {int(self.busy * 1000)}")

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is already gone (SQLite rolls back itself after some errors)

    def check_identity(self) -> None:
        """Refuse to go on if the store's file was deleted or replaced since it was opened: writes
        would land in a file no one will read again, and a run would report work nobody kept."""
        if self._identity is None:
            return
        now = identity(self.path)
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StoreError(
                f"the SQLite store {str(self.path)!r} was {what} while fnf had it open: nothing more can be "
                "recorded in it; restore the file (or point FNF_DB at the right one) and run again"
            )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self.rows(sql, params))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        """The rows one at a time, for a reader that keeps less than the rows (a stream's 100,000
        clients need not sit in memory twice, as rows and as what is made of them)."""
        try:
            yield from self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {str(self.path)!r}: {explain(exc, self.path)}") from exc


def read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: for status, history, health and the like, so they work on
    a store that is busy, read-only, or on a full disk. In a directory where SQLite cannot create
    its shared-memory file, the file is read as immutable (no other process can be writing it)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_SECONDS)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
    db.row_factory = sqlite3.Row
    if not current(db, reading=True):
        db.close()
        raise StoreError(
            f"the SQLite store {str(path)!r} was written by an older fnf and needs an upgrade that a "
            "read-only command cannot make: run any command that writes (fnf run, fnf clients import) once"
        )
    return db


def _locked(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def explain(exc: sqlite3.Error, path: Path | None = None, busy: float = BUSY_SECONDS) -> str:
    """What a SQLite error means for the operator, and what to do about it."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    where = f" ({str(path.parent)!r})" if path is not None else ""
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
        return f"the disk is full{where}: free some space, then run again"
    if _locked(exc):
        blockers = _blockers(path) if path is not None else ""
        return (
            f"another process held the store locked for more than {busy:g} s (FNF_DB_BUSY_SECONDS){blockers}; "
            "if it is hung or suspended, end it (it may be a shell or a backup tool)"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
        return f"the file or its directory is read-only{where}: a run writes both (its journal lives beside the file)"
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in str(exc):
        return f"the disk reported an I/O error{where}{_free(path)} (full, read-only or failing?): {exc}"
    if name.startswith("SQLITE_NOTADB") or "not a database" in str(exc) or name.startswith("SQLITE_CORRUPT"):
        return f"{exc}; check that FNF_DB points to an fnf database"
    return str(exc)


def _free(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return ""
    return f", {stat.f_bavail * stat.f_frsize / 1e6:.1f} MB free there"


def _blockers(path: Path) -> str:
    """``: held by pid N (command)`` for the other processes that have the store open, if visible."""
    from fnf.proc import linux as procs

    found = procs.openers(path)
    if not found:
        return ""
    return ": open in " + ", ".join(f"pid {pid} ({command})" for pid, command in found[:3])
