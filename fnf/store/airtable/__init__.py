"""The Airtable store (``store``), in pieces: ``http`` (pyairtable, paced and retried), ``clock``
(Airtable's time), ``schema`` (what fnf needs in a base) and ``setup`` (checking and applying it),
``records`` (cells to fnf's records), and one module per table: ``clients``, ``claims`` (Job
Runs and the leases), ``sweeps``.

Importing this package imports pyairtable: only ``fnf.store.open_store`` does, and only when
the store is Airtable.
"""

from fnf.store.airtable.store import AirtableStore

__all__ = ["AirtableStore"]
