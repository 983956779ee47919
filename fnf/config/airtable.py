"""The Airtable store's settings."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from fnf.config.values import _number
from fnf.errors import ConfigError


@dataclass(frozen=True)
class AirtableSettings:
    """Where the Airtable store lives and how politely to talk to it."""

    api_key: str = field(repr=False)
    base_id: str
    clients_table: str
    runs_table: str
    sweeps_table: str
    endpoint_url: str
    field_names: Mapping[str, str]
    """AIRTABLE_FIELD_<KEY> renames: KEY -> the base's name for that field."""
    requests_per_second: float
    rate_limit_wait: float
    """How long a 429 is waited out: Airtable refuses every request for 30 s after a breach."""
    retry_budget: float
    """How long one operation keeps retrying 5xx and connection errors before the run stops."""
    timeout: float
    slot: tuple[int, int] | None = None
    """AIRTABLE_SLOT=i/n: this run's quarter-second slot in a cycle of n (runs sharing a base)."""
    interactive: bool = False
    """A command someone is waiting for: short retries, one line when Airtable stays away."""

    def for_people(self) -> AirtableSettings:
        """These settings for an interactive command: give up within about 15 s, not minutes."""
        return replace(
            self,
            interactive=True,
            retry_budget=min(self.retry_budget, INTERACTIVE_RETRY_SECONDS),
            timeout=min(self.timeout, INTERACTIVE_TIMEOUT_SECONDS),
        )


INTERACTIVE_RETRY_SECONDS = 10.0
INTERACTIVE_TIMEOUT_SECONDS = 4.0


def _airtable(values: Mapping[str, str], src: Callable[[str], str]) -> AirtableSettings:
    def required(key: str, example: str) -> str:
        value = values.get(key, "").strip()
        if not value:
            raise ConfigError(
                f"FNF_STORE=airtable needs {key}: set it in the environment or .env (for example {example})"
            )
        return value

    api_key = required("AIRTABLE_API_KEY", "a personal access token, patXXXX.XXXX")
    base_id = required("AIRTABLE_BASE_ID", "appXXXXXXXXXXXXXX")
    if not re.fullmatch(r"app[A-Za-z0-9]{14}", base_id):
        raise ConfigError(
            f"AIRTABLE_BASE_ID={base_id!r} ({src('AIRTABLE_BASE_ID')}) is not a base id: base ids are 'app' and "
            "14 letters or digits, as in the base's URL https://airtable.com/appXXXXXXXXXXXXXX/..."
        )
    endpoint = values["AIRTABLE_ENDPOINT_URL"].strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", endpoint):
        raise ConfigError(
            f"AIRTABLE_ENDPOINT_URL={endpoint!r} ({src('AIRTABLE_ENDPOINT_URL')}) is not an http(s) URL: "
            "leave it unset for Airtable itself, or use a URL such as http://127.0.0.1:8765"
        )
    renames = _field_renames(values, src)
    tables = _tables(values, src)

    def positive(key: str, unit: str, allow_zero: bool = False) -> float:
        return _number(key, values[key], src(key), unit=unit, allow_zero=allow_zero)

    return AirtableSettings(
        api_key=api_key,
        base_id=base_id,
        clients_table=tables["AIRTABLE_CLIENTS_TABLE"],
        runs_table=tables["AIRTABLE_RUNS_TABLE"],
        sweeps_table=tables["AIRTABLE_SWEEPS_TABLE"],
        endpoint_url=endpoint,
        field_names=renames,
        requests_per_second=positive("AIRTABLE_REQUESTS_PER_SECOND", "requests"),
        rate_limit_wait=positive("AIRTABLE_RATE_LIMIT_WAIT_SECONDS", "seconds", allow_zero=True),
        retry_budget=positive("AIRTABLE_RETRY_BUDGET_SECONDS", "seconds"),
        timeout=positive("AIRTABLE_TIMEOUT_SECONDS", "seconds"),
        slot=_slot(values.get("AIRTABLE_SLOT", ""), src),
    )


MAX_SLOTS = 240
"""A cycle of at most a minute of quarter-second slots."""


def _slot(text: str, src: Callable[[str], str]) -> tuple[int, int] | None:
    """``AIRTABLE_SLOT=3/9``: the third of nine runs that may share the base at once."""
    if not text.strip():
        return None
    match = re.fullmatch(r"\s*([0-9]{1,3})\s*/\s*([0-9]{1,3})\s*", text)
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)) <= MAX_SLOTS:
        raise ConfigError(
            f"AIRTABLE_SLOT={text!r} ({src('AIRTABLE_SLOT')}) is not a slot: write i/n, this run's place i among "
            f"the n runs that share the base (1 <= i <= n <= {MAX_SLOTS}), as fnf deploy does, for example 3/9"
        )
    return int(match.group(1)), int(match.group(2))


def _field_renames(values: Mapping[str, str], src: Callable[[str], str]) -> dict[str, str]:
    """``AIRTABLE_FIELD_<KEY>=Name``: the operator's names for fnf's fields."""
    from fnf.store.airtable.schema import FIELD_KEYS

    renames: dict[str, str] = {}
    for key, value in values.items():
        if not key.startswith("AIRTABLE_FIELD_"):
            continue
        name = key.removeprefix("AIRTABLE_FIELD_")
        if name not in FIELD_KEYS:
            close = ", ".join(difflib.get_close_matches(name, sorted(FIELD_KEYS), n=4, cutoff=0.6))
            raise ConfigError(
                f"{key} ({src(key)}) does not name a field fnf uses"
                + (f"; similar: {close}" if close else "")
                + "; see fnf schema check for every field and its variable"
            )
        if not value.strip() or "}" in value:
            raise ConfigError(
                f"{key}={value!r} ({src(key)}) is not a usable field name: it must be non-empty and "
                "must not contain '}' (Airtable formulas cannot reference such a name)"
            )
        renames[name] = value.strip()
    return renames


def _tables(values: Mapping[str, str], src: Callable[[str], str]) -> dict[str, str]:
    tables = {}
    for key in ("AIRTABLE_CLIENTS_TABLE", "AIRTABLE_RUNS_TABLE", "AIRTABLE_SWEEPS_TABLE"):
        tables[key] = values[key].strip()
        if not tables[key]:
            raise ConfigError(f"{key} is empty ({src(key)}): set it to the table's name, or unset it for the default")
    if len(set(tables.values())) != 3:
        raise ConfigError(
            "AIRTABLE_CLIENTS_TABLE, AIRTABLE_RUNS_TABLE and AIRTABLE_SWEEPS_TABLE must name three different "
            f"tables (they are {', '.join(repr(v) for v in tables.values())})"
        )
    return tables
