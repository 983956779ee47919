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

import argparse
import json
import random
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fnf.emulator_formula import FormulaError, evaluate

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
    bad = ApiError(422, "INVALID_VALUE_FOR_COLUMN", f'Field "{name}" cannot accept the provided value')
    kind = target.type
    if kind in ("singleLineText", "multilineText", "email", "url"):
        if isinstance(value, str):
            return value
        if typecast and isinstance(value, int | float):
            return str(value)
        raise bad
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if typecast and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise bad from None
            return int(number) if number.is_integer() else number
        raise bad
    if kind == "checkbox":
        if isinstance(value, bool):
            return value or None
        raise bad
    if kind == "dateTime":
        if not isinstance(value, str):
            raise bad
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "date":
        # a date field holds a calendar date; fnf writes YYYY-MM-DD, which is what it reads back
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise bad
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise bad from None
        return value
    if kind == "singleSelect":
        if not isinstance(value, str):
            raise bad
        choices = target.options["choices"]
        if not any(c["name"] == value for c in choices):
            if not typecast:
                raise ApiError(
                    422,
                    "INVALID_MULTIPLE_CHOICE_OPTIONS",
                    f'Insufficient permissions to create new select option ""{value}""',
                )
            choices.append({"id": _new_id("sel"), "name": value, "color": "grayLight2"})
        return value
    raise bad


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Emulator:
    """The emulated service: bases, their tables and records, limits and fault switches."""

    def __init__(
        self,
        token: str = "test-token",
        *,
        rate_limit: int = 5,
        window: float = 1.0,
        penalty: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.rate_limit, self.window, self.penalty = rate_limit, window, penalty
        self.clock = clock
        self.bases: dict[str, Base] = {}
        self.faults = Faults()
        self.stats = Stats()
        self.lock = threading.RLock()
        self._rng = random.Random()
        self._cursors: dict[str, tuple[list[str], int, float]] = {}
        """Offsets of paged listings: reusable (a retried page works) until they expire, as Airtable's."""
        self.iterator_seconds = ITERATOR_SECONDS
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up from tests ---------------------------------------------------------------
    def base(self, base_id: str, *, rate_limit: int | None = None) -> Base:
        with self.lock:
            base = self.bases.setdefault(base_id, Base(base_id))
            if rate_limit is not None:
                base.rate_limit = rate_limit
            return base

    def records(self, base_id: str, table: str) -> list[dict[str, Any]]:
        with self.lock:
            found = self.base(base_id).table(table)
            return [r.out() for r in found.records.values()]

    def set_faults(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.faults, key):
                    raise AttributeError(f"no fault switch {key!r}")
                setattr(self.faults, key, value)
            if "seed" in changes:
                self._rng.seed(changes["seed"])

    # -- server --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> str:
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="airtable-emulator", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------
    def admit(self, base_id: str) -> str | None:
        """Apply faults and the rate limit; returns 'drop', or raises the ApiError to answer."""
        with self.lock:
            self.stats.requests += 1
            faults = self.faults
            if faults.down:
                self.stats.injected_5xx += 1
                raise ApiError(503, "SERVICE_UNAVAILABLE", "Service Unavailable")
            if faults.throttle_next > 0:
                faults.throttle_next -= 1
                self.stats.injected_429 += 1
                raise _rate_limited()
            if faults.error_rate and self._rng.random() < faults.error_rate:
                self.stats.injected_5xx += 1
                raise ApiError(502, "BAD_GATEWAY", "Bad Gateway")
            if faults.drop_rate and self._rng.random() < faults.drop_rate:
                self.stats.dropped += 1
                return "drop-before" if self._rng.random() < 0.5 else "drop-after"
            base = self.bases.get(base_id)
            if base is not None:
                now = self.clock()
                if now < base.penalty_until:
                    self.stats.rate_limited += 1
                    raise _rate_limited()
                while base.calls and base.calls[0] <= now - self.window:
                    base.calls.popleft()
                if len(base.calls) >= (base.rate_limit or self.rate_limit):
                    base.penalty_until = now + self.penalty
                    self.stats.rate_limited += 1
                    raise _rate_limited()
                base.calls.append(now)
        return None

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 2 or parts[0] != "v0":
            raise ApiError(404, "NOT_FOUND", f"Could not find what you are looking for: {path}")
        with self.lock:
            if parts[1] == "meta":
                return self._meta(method, parts[2:], body)
            base = self.bases.get(parts[1])
            if base is None:
                raise ApiError(404, "NOT_FOUND", f"Could not find base {parts[1]}")
            if len(parts) < 3:
                raise ApiError(404, "NOT_FOUND", "Could not find what you are looking for")
            table = base.table(parts[2])
            return self._records(method, table, parts[3:], query, body)

    def _meta(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        if len(parts) < 3 or parts[0] != "bases" or parts[2] != "tables":
            raise ApiError(404, "NOT_FOUND", "Could not find what you are looking for")
        base = self.bases.get(parts[1])
        if base is None:
            raise ApiError(404, "NOT_FOUND", f"Could not find base {parts[1]}")
        if len(parts) == 3 and method == "GET":
            return 200, {"tables": [t.meta() for t in base.tables.values()]}
        if len(parts) == 3 and method == "POST":
            return 200, base.add_table(str(body.get("name", "")), list(body.get("fields") or [])).meta()
        if len(parts) == 5 and parts[4] == "fields" and method == "POST":
            return 200, add_field(base.table(parts[3]), dict(body)).meta()
        if len(parts) == 6 and parts[4] == "fields" and method == "PATCH":
            table = base.table(parts[3])
            target = table.field(parts[5])
            if target is None:
                raise ApiError(404, "NOT_FOUND", f"Could not find field {parts[5]}")
            if set(body) - {"name", "description"}:
                raise ApiError(422, "INVALID_REQUEST_UNKNOWN", "Only name and description can be updated")
            target.name = str(body.get("name", target.name))
            return 200, target.meta()
        raise ApiError(404, "NOT_FOUND", "Could not find what you are looking for")

    def _records(
        self, method: str, table: Table, rest: list[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if rest == ["listRecords"] and method == "POST":
            return 200, self._list(table, _body_options(body))
        if rest:
            record = table.records.get(rest[0])
            if record is None:
                raise ApiError(404, "NOT_FOUND", f"Could not find record {rest[0]}")
            if method == "GET":
                return 200, record.out()
            if method in ("PATCH", "PUT"):
                self._write(table, record, dict(body.get("fields") or {}), bool(body.get("typecast")), method == "PUT")
                return 200, record.out()
            if method == "DELETE":
                del table.records[record.id]
                return 200, {"id": record.id, "deleted": True}
            raise ApiError(404, "NOT_FOUND", "Could not find what you are looking for")
        if method == "GET":
            return 200, self._list(table, _query_options(query))
        if method == "POST":
            return 200, self._create(table, body)
        if method in ("PATCH", "PUT"):
            return 200, self._update(table, body, replace=method == "PUT")
        if method == "DELETE":
            ids = query.get("records[]", [])
            _check_batch(len(ids))
            missing = [i for i in ids if i not in table.records]
            if missing:
                raise ApiError(404, "NOT_FOUND", f"Could not find record {missing[0]}")
            for record_id in ids:
                del table.records[record_id]
            return 200, {"records": [{"id": i, "deleted": True} for i in ids]}
        raise ApiError(404, "NOT_FOUND", "Could not find what you are looking for")

    def _list(self, table: Table, options: dict[str, Any]) -> dict[str, Any]:
        only = options.get("fields")
        if only is not None:
            for name in only:
                if table.field(name) is None:
                    raise ApiError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
        size = int(options.get("pageSize") or MAX_PAGE_SIZE)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ApiError(422, "INVALID_PAGE_SIZE", f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        offset = options.get("offset")
        if offset:
            cursor = self._cursors.get(offset)
            if cursor is None or self.clock() - cursor[2] > self.iterator_seconds:
                raise ApiError(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE", "The offset is no longer valid")
            ids, start, _ = cursor
        else:
            ids, start = self._matching(table, options), 0
        page_ids = [i for i in ids[start : start + size] if i in table.records]
        out: dict[str, Any] = {"records": [table.records[i].out(only) for i in page_ids]}
        if start + size < len(ids):
            token = f"itr{secrets.token_hex(8)}/{ids[start + size]}"
            now = self.clock()
            if len(self._cursors) > 1000:
                self._cursors = {k: c for k, c in self._cursors.items() if now - c[2] <= self.iterator_seconds}
            self._cursors[token] = (ids, start + size, now)
            out["offset"] = token
        return out

    def _matching(self, table: Table, options: dict[str, Any]) -> list[str]:
        records = list(table.records.values())
        formula = options.get("filterByFormula")
        if formula:
            known = {f.name for f in table.fields}
            try:
                records = [r for r in records if evaluate(formula, r.fields, known, r.id)]
            except FormulaError as exc:
                raise ApiError(
                    422, "INVALID_FILTER_BY_FORMULA", f"The formula for filtering records is invalid: {exc}"
                ) from None
        for rule in reversed(options.get("sort") or []):
            name = rule["field"]
            if table.field(name) is None:
                raise ApiError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
            records.sort(key=lambda r: _sort_key(r.fields.get(name)), reverse=rule.get("direction") == "desc")
        if options.get("maxRecords"):
            records = records[: int(options["maxRecords"])]
        return [r.id for r in records]

    def _create(self, table: Table, body: Any) -> Any:
        typecast = bool(body.get("typecast"))
        if "records" not in body:
            return self._new(table, dict(body.get("fields") or {}), typecast).out()
        specs = list(body["records"])
        _check_batch(len(specs))
        staged = [_staged(table, dict(s.get("fields") or {}), typecast) for s in specs]
        return {"records": [self._add(table, values).out() for values in staged]}

    def _new(self, table: Table, values: dict[str, Any], typecast: bool) -> Record:
        return self._add(table, _staged(table, values, typecast))

    def _add(self, table: Table, values: dict[str, Any]) -> Record:
        record = Record(_new_id("rec"), _now_text(), {k: v for k, v in values.items() if v is not None})
        table.records[record.id] = record
        return record

    def _update(self, table: Table, body: Any, *, replace: bool) -> Any:
        specs, typecast = list(body.get("records") or []), bool(body.get("typecast"))
        _check_batch(len(specs))
        upsert = body.get("performUpsert")
        if upsert is None:
            for spec in specs:
                if spec.get("id") not in table.records:
                    raise ApiError(404, "NOT_FOUND", f"Could not find record {spec.get('id')}")
            for spec in specs:
                _staged(table, dict(spec.get("fields") or {}), typecast)  # validate all before writing any
            out = []
            for spec in specs:
                record = table.records[spec["id"]]
                self._write(table, record, dict(spec.get("fields") or {}), typecast, replace)
                out.append(record.out())
            return {"records": out}
        keys = list(upsert.get("fieldsToMergeOn") or [])
        if not keys or any(table.field(k) is None for k in keys):
            raise ApiError(422, "INVALID_MERGE_FIELDS", f"fieldsToMergeOn {keys!r} must name existing fields")
        staged = [_staged(table, dict(s.get("fields") or {}), typecast) for s in specs]
        created, updated, out = [], [], []
        for values in staged:
            match = [r for r in table.records.values() if all(r.fields.get(k) == values.get(k) for k in keys)]
            if len(match) > 1:
                raise ApiError(422, "INVALID_MERGE_FIELDS", "fieldsToMergeOn matches more than one record")
            if match:
                record = match[0]
                if replace:
                    record.fields = {}
                record.fields.update(values)
                record.fields = {k: v for k, v in record.fields.items() if v is not None}
                updated.append(record.id)
            else:
                record = self._add(table, values)
                created.append(record.id)
            out.append(record.out())
        return {"records": out, "createdRecords": created, "updatedRecords": updated}

    def _write(self, table: Table, record: Record, values: dict[str, Any], typecast: bool, replace: bool) -> None:
        staged = _staged(table, values, typecast)
        fields = {} if replace else dict(record.fields)
        fields.update(staged)
        record.fields = {k: v for k, v in fields.items() if v is not None}


def _staged(table: Table, values: dict[str, Any], typecast: bool) -> dict[str, Any]:
    return {name: _cell(table, name, value, typecast) for name, value in values.items()}


def _check_batch(count: int) -> None:
    if count > MAX_RECORDS_PER_WRITE:
        raise ApiError(
            422,
            "INVALID_RECORDS",
            f"You may only create, update or delete up to {MAX_RECORDS_PER_WRITE} records per request ({count} sent)",
        )


def _rate_limited() -> ApiError:
    return ApiError(429, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def _query_options(query: dict[str, list[str]]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("pageSize", "offset", "filterByFormula", "maxRecords"):
        if key in query:
            options[key] = query[key][-1]
    if "fields[]" in query:
        options["fields"] = query["fields[]"]
    sort: dict[int, dict[str, str]] = {}
    for key, values in query.items():
        match = re.fullmatch(r"sort\[(\d+)\]\[(field|direction)\]", key)
        if match:
            sort.setdefault(int(match.group(1)), {})[match.group(2)] = values[-1]
    if sort:
        options["sort"] = [sort[i] for i in sorted(sort)]
    return options


def _body_options(body: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(body or {}).items() if k != "returnFieldsByFieldId"}


class _Handler(BaseHTTPRequestHandler):
    owner: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        emulator = self.owner
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        written = 0
        try:
            body = json.loads(raw) if raw else {}
            if emulator.faults.latency:
                time.sleep(emulator.faults.latency)
            if self.headers.get("Authorization") != f"Bearer {emulator.token}":
                raise ApiError(401, "AUTHENTICATION_REQUIRED", "Authentication required")
            segments = split.path.strip("/").split("/")
            base_id = segments[1] if len(segments) > 1 and segments[1] != "meta" else _meta_base(segments)
            drop = emulator.admit(base_id)
            if drop == "drop-before":
                self._drop()
                return
            status, payload = emulator.handle(method, split.path, parse_qs(split.query), body)
            written = _count_written(method, body, split.query)
            if drop == "drop-after":
                self._drop()
                return
        except ApiError as exc:
            status, payload = exc.status, exc.body()
            if exc.status == 429:
                payload = {"errors": [{"error": exc.kind, "message": exc.message}]}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            status, payload = 422, {"error": {"type": "INVALID_REQUEST_UNKNOWN", "message": f"Invalid request: {exc}"}}
        with emulator.lock:
            emulator.stats.log.append((method, split.path, status, written))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _meta_base(segments: list[str]) -> str:
    return segments[3] if len(segments) > 3 else ""


def _count_written(method: str, body: Any, query: str) -> int:
    if method == "DELETE":
        return max(1, len(parse_qs(query).get("records[]", [])))
    if method in ("POST", "PATCH", "PUT") and isinstance(body, dict) and "records" in body:
        return len(body["records"])
    if method in ("PATCH", "PUT") or (method == "POST" and isinstance(body, dict) and "fields" in body):
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve an emulated Airtable API on loopback.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--base", default="appTESTBASE000001", help="base id to create (empty)")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--penalty", type=float, default=30.0, help="seconds refused after a rate-limit breach")
    args = parser.parse_args(argv)
    emulator = Emulator(args.token, penalty=args.penalty)
    emulator.base(args.base)
    print(f"Airtable emulator on {emulator.start(args.port)} (base {args.base}, token {args.token})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
