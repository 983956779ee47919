"""Airtable store set-up for tests: fresh bases on the loopback emulator."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from fnf.config import AirtableSettings
from fnf.store.airtable import AirtableStore
from fnf.testing.airtable_emulator import Emulator

TOKEN = "pat-test.secret-token-value"


def new_base(emulator: Emulator, *, rate_limit: int | None = None) -> str:
    base_id = "app" + uuid.uuid4().hex[:14]
    emulator.base(base_id, rate_limit=rate_limit)
    return base_id


def airtable_settings(emulator: Emulator, base_id: str, **changes: Any) -> AirtableSettings:
    settings = AirtableSettings(
        api_key=TOKEN,
        base_id=base_id,
        clients_table="Clients",
        runs_table="Job Runs",
        sweeps_table="Sweeps",
        endpoint_url=emulator.url,
        field_names={},
        requests_per_second=1000.0,
        rate_limit_wait=0.05,
        retry_budget=5.0,
        timeout=5.0,
    )
    return replace(settings, **changes)


def ready_store(emulator: Emulator, **changes: Any) -> AirtableStore:
    """A store on a new, unthrottled base with fnf's schema applied."""
    base_id = new_base(emulator, rate_limit=100_000)
    store = AirtableStore(airtable_settings(emulator, base_id, **changes))
    store.apply_schema()
    return store


def environ_for(emulator: Emulator, base_id: str, **extra: str) -> dict[str, str]:
    """The environment a `fnf` process needs to use the base."""
    return {
        "FNF_STORE": "airtable",
        "AIRTABLE_API_KEY": TOKEN,
        "AIRTABLE_BASE_ID": base_id,
        "AIRTABLE_ENDPOINT_URL": emulator.url,
        "AIRTABLE_RATE_LIMIT_WAIT_SECONDS": "0.2",
        "AIRTABLE_RETRY_BUDGET_SECONDS": "10",
        **extra,
    }
