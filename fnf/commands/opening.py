"""The one way a command opens the store: settings in, the store closed on the way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fnf.config import Settings
from fnf.errors import UsageError
from fnf.stop import StopFlag
from fnf.store import Store, open_store

if TYPE_CHECKING:
    from fnf.store.airtable import AirtableStore


@contextmanager
def store_for(
    settings: Settings,
    *,
    create: bool = False,
    verify: bool = True,
    stop: StopFlag | None = None,
    readonly: bool = False,
) -> Iterator[Store]:
    """The configured store (see ``fnf.store.open_store`` for the flags), closed after the block."""
    store = open_store(settings, create=create, verify=verify, stop=stop, readonly=readonly)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def airtable_store(settings: Settings) -> Iterator[AirtableStore]:
    """The Airtable store, unchecked (``fnf schema`` is how a base gets ready), or a usage error
    naming the setting when the store is another."""
    if settings.store != "airtable" or settings.airtable is None:
        raise UsageError(
            f"fnf schema works on the Airtable store, and FNF_STORE is {settings.store!r}: set FNF_STORE=airtable "
            "(with AIRTABLE_API_KEY and AIRTABLE_BASE_ID); the SQLite store keeps its own schema"
        )
    from fnf.store.airtable import AirtableStore

    with store_for(settings, verify=False) as store:
        assert isinstance(store, AirtableStore), "open_store opens Airtable for FNF_STORE=airtable"
        yield store
