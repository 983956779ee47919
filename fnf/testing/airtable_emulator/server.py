"""The emulator: Airtable's REST API on loopback, its rate limits and its injected faults."""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from fnf.testing.airtable_emulator.formula import FormulaError, evaluate
from fnf.testing.airtable_emulator.model import (
    ITERATOR_SECONDS,
    MAX_PAGE_SIZE,
    MAX_RECORDS_PER_WRITE,
    ApiError,
    Base,
    Faults,
    Record,
    Stats,
    Table,
    _cell,
    _new_id,
    _now_text,
    add_field,
)


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
        from fnf.testing.airtable_emulator.http import handler_for  # it serves an Emulator: no cycle at import

        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(self))
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
