"""Stores: where clients, their job states, sweeps, runs and leases live.

``base.Store`` is the contract; ``sqlite`` is the embedded default; ``fnf.testing.MemoryStore``
is the in-memory fake. Every store passes the same contract suite (tests/contract).
"""

from __future__ import annotations

from fnf.config import Settings
from fnf.stop import StopFlag
from fnf.store.base import Store


def open_store(
    settings: Settings,
    *,
    create: bool = False,
    verify: bool = True,
    stop: StopFlag | None = None,
    readonly: bool = False,
) -> Store:
    """Open the configured store. Backends are imported here, lazily, so that ``fnf --help``
    and SQLite runs never pay for a backend they do not use.

    Only commands that add clients may create a store: a cron line started in the wrong
    directory must fail loudly, not sweep a new empty store and report success.

    An Airtable base is checked (``verify``) before anything else happens, so that a base
    lacking a field fails before any client is touched.

    ``readonly`` commands (status, history, health, plan, doctor, clients list) never write: they
    work while another process holds the store locked, and on a read-only file or a full disk.
    """
    if settings.store == "airtable":
        from fnf.store.airtable import AirtableStore

        assert settings.airtable is not None, "load_settings fills airtable for FNF_STORE=airtable"
        store = AirtableStore(settings.airtable, stop=stop)
        if verify:
            try:
                store.verify()
            except BaseException:
                store.close()
                raise
        return store
    from fnf.store.sqlite import SQLiteStore

    return SQLiteStore(settings.db_path, create=create, readonly=readonly, busy=settings.db_busy_seconds)


__all__ = ["Store", "open_store"]
