"""What only the SQLite store has to show: durability across processes and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fnf.errors import StoreError, UsageError
from fnf.models import Client
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
