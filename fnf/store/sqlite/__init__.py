"""The embedded default store: one SQLite file, WAL journal, one transaction per state change.

``store`` keeps the contract; ``connection`` opens the file and runs transactions; ``schema`` holds
the tables and their upgrades; ``rows`` maps rows to records.
"""

from __future__ import annotations

from fnf.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
