"""A loopback emulator of Airtable's REST API, for tests and benchmarks.

It speaks the parts of the API fnf uses, with Airtable's limits and error bodies, so that the
Airtable store is exercised through pyairtable over real HTTP:

* records: list (``pageSize`` <= 100, ``offset``, ``filterByFormula``, ``sort``, ``fields[]``,
  ``maxRecords``; ``POST .../listRecords``), get, create, update, replace, upsert
  (``performUpsert``), delete; at most 10 records per write; empty fields omitted;
* the metadata API: list tables, create a table, create a field, rename a field;
* 422 for an unknown field name, a value a field cannot hold, a select option that does not exist
  (unless ``typecast``); 401 without the token; 404 for an unknown base, table or record;
* 5 requests per second per base; a breach answers 429 and every request in the next
  ``penalty`` seconds is refused too;
* switches (:class:`Faults`) that add latency, 429s, 5xx answers and dropped connections.

Run it by hand with ``python -m fnf.airtable_emulator --port 8765 --base appTESTBASE000001``.
"""

from __future__ import annotations

from fnf.testing.airtable_emulator.http import main
from fnf.testing.airtable_emulator.model import ApiError, Base, Faults, Field, Record, Stats, Table
from fnf.testing.airtable_emulator.server import Emulator

__all__ = ["ApiError", "Base", "Emulator", "Faults", "Field", "Record", "Stats", "Table", "main"]
