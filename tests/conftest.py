from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fnf.store.base import Store
from fnf.store.sqlite import SQLiteStore
from fnf.testing import MemoryStore

STORES = ["memory", "sqlite"]


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "memory":
        return MemoryStore()
    return SQLiteStore(tmp_path / "fnf.db")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every store, through one contract: a test using this fixture runs once per backend."""
    made = make_store(request.param, tmp_path)
    yield made
    made.close()
