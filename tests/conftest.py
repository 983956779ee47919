from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from airtable_helpers import TOKEN, ready_store

from fnf.store.base import Store
from fnf.store.sqlite import SQLiteStore
from fnf.testing import MemoryStore
from fnf.testing.airtable_emulator import Emulator

STORES = ["memory", "sqlite", "airtable"]


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One loopback Airtable emulator for the session; each test takes a new base in it."""
    with Emulator(TOKEN, penalty=30.0) as running:
        yield running


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "airtable":
        return ready_store(request.getfixturevalue("emulator"))
    return SQLiteStore(tmp_path / "fnf.db")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every store, through one contract: a test using this fixture runs once per backend."""
    made = make_store(request.param, tmp_path, request)
    yield made
    made.close()
