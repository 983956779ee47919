"""The loopback Airtable emulator's old import path: ``python -m fnf.airtable_emulator`` and
``from fnf.airtable_emulator import Emulator`` keep working (it lives in ``fnf.testing``)."""

from __future__ import annotations

from fnf.testing.airtable_emulator import ApiError, Base, Emulator, Faults, Field, Record, Stats, Table, main

__all__ = ["ApiError", "Base", "Emulator", "Faults", "Field", "Record", "Stats", "Table", "main"]

if __name__ == "__main__":
    main()
