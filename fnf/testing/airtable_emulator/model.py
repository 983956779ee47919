"""The emulator's data: bases, tables, typed fields, records, and Airtable's limits."""

from __future__ import annotations

import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_RECORDS_PER_WRITE = 10
MAX_PAGE_SIZE = 100
ITERATOR_SECONDS = 300.0
"""How long a listing's offset stays valid (Airtable's iterators time out after a few minutes)."""
FIELD_TYPES = frozenset(
    {"singleLineText", "multilineText", "number", "singleSelect", "date", "dateTime", "checkbox", "email", "url"}
)


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.kind, "message": self.message}}


@dataclass
class Faults:
    """Switches a test flips while the emulator runs. Rates are probabilities per request."""

    latency: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_next: int = 0
    """The next N requests are answered 429 (an injected burst; no penalty)."""
    down: bool = False
    """Every request is answered 503, as when Airtable is unavailable."""
    seed: int | None = None


@dataclass
class Stats:
    requests: int = 0
    rate_limited: int = 0
    """429s caused by breaching the rate limit (and its penalty), not injected ones."""
    injected_429: int = 0
    injected_5xx: int = 0
    dropped: int = 0
    log: list[tuple[str, str, int, int]] = field(default_factory=list)
    """(method, path, status, records written) per request."""

    def writes(self) -> list[int]:
        return [n for method, _path, _status, n in self.log if method in ("POST", "PATCH", "PUT", "DELETE") and n]


@dataclass
class Field:
    id: str
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.options:
            out["options"] = self.options
        return out


@dataclass
class Record:
    id: str
    created: str
    fields: dict[str, Any]

    def out(self, only: list[str] | None = None) -> dict[str, Any]:
        values = {k: v for k, v in self.fields.items() if only is None or k in only}
        return {"id": self.id, "createdTime": self.created, "fields": values}


@dataclass
class Table:
    id: str
    name: str
    fields: list[Field]
    records: dict[str, Record] = field(default_factory=dict)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name or f.id == name), None)

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "primaryFieldId": self.fields[0].id,
            "fields": [f.meta() for f in self.fields],
            "views": [{"id": "viw" + self.id[3:], "name": "Grid view", "type": "grid"}],
        }


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(7)[:14]


class Base:
    def __init__(self, base_id: str) -> None:
        self.id = base_id
        self.tables: dict[str, Table] = {}
        self.calls: deque[float] = deque()
        self.penalty_until = 0.0
        self.rate_limit: int | None = None
        """Requests per window for this base; None means the emulator's (Airtable's 5)."""

    def table(self, ref: str) -> Table:
        for table in self.tables.values():
            if ref in (table.id, table.name):
                return table
        raise ApiError(404, "TABLE_NOT_FOUND", f"Could not find table {ref} in application {self.id}")

    def add_table(self, name: str, fields: list[dict[str, Any]]) -> Table:
        if any(t.name == name for t in self.tables.values()):
            raise ApiError(422, "DUPLICATE_TABLE_NAME", f"Table name {name!r} is already in use")
        if not fields:
            raise ApiError(422, "INVALID_REQUEST_UNKNOWN", "A table needs at least one field")
        table = Table(_new_id("tbl"), name, [])
        for spec in fields:
            add_field(table, spec)
        self.tables[table.id] = table
        return table


def add_field(table: Table, spec: dict[str, Any]) -> Field:
    name, kind = str(spec.get("name", "")).strip(), spec.get("type")
    if not name or table.field(name) is not None:
        raise ApiError(422, "DUPLICATE_OR_EMPTY_FIELD_NAME", f"Field name {name!r} is empty or already in use")
    if kind not in FIELD_TYPES:
        raise ApiError(422, "INVALID_FIELD_TYPE", f"Field type {kind!r} is not supported")
    options = dict(spec.get("options") or {})
    if kind == "singleSelect":
        options["choices"] = [
            {"id": _new_id("sel"), "name": str(c["name"]), "color": c.get("color", "blueLight2")}
            for c in options.get("choices", [])
        ]
    if kind == "number" and "precision" not in options:
        raise ApiError(422, "INVALID_FIELD_OPTIONS", f"Field {name!r}: number fields need options.precision")
    if kind == "date" and "dateFormat" not in options:
        raise ApiError(422, "INVALID_FIELD_OPTIONS", f"Field {name!r}: date fields need options.dateFormat")
    if kind == "dateTime" and "timeZone" not in options:
        raise ApiError(422, "INVALID_FIELD_OPTIONS", f"Field {name!r}: dateTime fields need options.timeZone")
    made = Field(_new_id("fld"), name, kind, options)
    table.fields.append(made)
    return made


def _cell(table: Table, name: str, value: Any, typecast: bool) -> Any:
    """The value Airtable would store for ``value`` in field ``name``; None clears the cell."""
    target = table.field(name)
    if target is None:
        raise ApiError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
    if value is None or value == "":
        return None
    convert = _CONVERTERS.get(target.type)
    stored = convert(target, value, typecast) if convert is not None else _REFUSED
    if stored is _REFUSED:
        raise ApiError(422, "INVALID_VALUE_FOR_COLUMN", f'Field "{name}" cannot accept the provided value')
    return stored


_REFUSED = object()
"""What a converter returns for a value its field type cannot hold (Airtable answers 422)."""


def _text(field: Field, value: Any, typecast: bool) -> Any:
    if isinstance(value, str):
        return value
    return str(value) if typecast and isinstance(value, int | float) else _REFUSED


def _number(field: Field, value: Any, typecast: bool) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if not (typecast and isinstance(value, str)):
        return _REFUSED
    try:
        number = float(value)
    except ValueError:
        return _REFUSED
    return int(number) if number.is_integer() else number


def _checkbox(field: Field, value: Any, typecast: bool) -> Any:
    return (value or None) if isinstance(value, bool) else _REFUSED


def _date_time(field: Field, value: Any, typecast: bool) -> Any:
    if not isinstance(value, str):
        return _REFUSED
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _REFUSED
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _date(field: Field, value: Any, typecast: bool) -> Any:
    """A date field holds a calendar date; fnf writes YYYY-MM-DD, which is what it reads back."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return _REFUSED
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return _REFUSED
    return value


def _select(field: Field, value: Any, typecast: bool) -> Any:
    if not isinstance(value, str):
        return _REFUSED
    choices = field.options["choices"]
    if not any(c["name"] == value for c in choices):
        if not typecast:
            raise ApiError(
                422,
                "INVALID_MULTIPLE_CHOICE_OPTIONS",
                f'Insufficient permissions to create new select option ""{value}""',
            )
        choices.append({"id": _new_id("sel"), "name": value, "color": "grayLight2"})
    return value


_CONVERTERS: dict[str, Callable[[Field, Any, bool], Any]] = {
    "singleLineText": _text,
    "multilineText": _text,
    "email": _text,
    "url": _text,
    "number": _number,
    "checkbox": _checkbox,
    "dateTime": _date_time,
    "date": _date,
    "singleSelect": _select,
}


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
