"""The Airtable store: the production system of record, shared by streams on many machines.

Layout (names configurable, see ``airtable_schema``): the operators' **Clients** table carries
each client's id, name, stream, sweep order and, per job type, the status fields operators
already read (``Lead Scoring Job Status`` ...) plus the run and sweep ids fnf resumes by;
**Job Runs** holds one record per run, and the live leases (a run's ``Leases`` field names the
job types it holds until it ends); **Sweeps** holds one record per sweep.

Airtable has no transactions, so:

* every record fnf creates is written by upsert on a unique key (Run ID, Sweep ID, Client ID),
  so a retried write can never duplicate it;
* one run per (type, stream) is decided by claim-and-check: a run writes its claim, reads the
  live claims back, and keeps its claim only if it sees no other live one; otherwise it deletes
  its claim, waits a random moment and tries again. Two runs can both withdraw, but never both
  proceed: the later of two claims always sees the earlier one;
* the states of several clients are written in one request (10 records each), the run's
  counts ride along with the heartbeat, and the lease is re-checked before a write whenever the
  last confirmation is older than half the stale period (takeover needs a full stale period).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from fnf import formula as fx
from fnf.clock import iso
from fnf.config import AirtableSettings
from fnf.errors import LeaseLostError, SchemaError, StoreError
from fnf.models import (
    Client,
    Holder,
    JobState,
    JobType,
    Lease,
    Outcome,
    RunCounts,
    RunRecord,
    StateUpdate,
    Status,
    Sweep,
    parse_seconds,
)
from fnf.stop import StopFlag
from fnf.store import airtable_cells as cells
from fnf.store import airtable_schema as sc
from fnf.store.airtable_http import ListingExpiredError, PacedApi, RecordGoneError
from fnf.store.base import Acquired, Busy, ImportReport, LeaseJudge, RunFinish, RunProgress, Store, Unusable

log = logging.getLogger("fnf.airtable")

ACQUIRE_ATTEMPTS = 10
SETTLE_LOOKS = 3
LISTING_RESTARTS = 3
CLAIM_SETTLE_SECONDS = 10.0
"""A claim younger than this may still be withdrawn by its run (compared across hosts, so generous)."""
HEARTBEAT_BUDGET_SECONDS = 5.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECORD_ID = re.compile(r"rec[A-Za-z0-9]{14}")
Rec = dict[str, Any]


class AirtableStore(Store):
    name = "airtable"

    def __init__(
        self,
        settings: AirtableSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        stop: StopFlag | None = None,
    ) -> None:
        self.settings = settings
        self.layout = sc.Layout(
            settings.clients_table, settings.runs_table, settings.sweeps_table, settings.field_names
        )
        self.api = PacedApi(settings, stop=stop)
        self._sleep, self._monotonic = sleep, monotonic
        # pyairtable's TypedDicts are narrower than the values fnf writes; the tables are untyped here
        self._clients: Any = self.api.table(settings.base_id, settings.clients_table)
        self._runs: Any = self.api.table(settings.base_id, settings.runs_table)
        self._sweeps: Any = self.api.table(settings.base_id, settings.sweeps_table)
        self._client_recs: dict[str, str] = {}
        self._run_recs: dict[str, str] = {}
        self._sweep_recs: dict[str, str] = {}
        self._confirmed: dict[str, float] = {}
        self._stale_after: dict[str, float] = {}
        self._lost: set[str] = set()
        self._progress: dict[str, RunProgress] = {}
        self._warned: set[str] = set()
        self._open_sweeps: set[str] = set()
        self._unusable: dict[int | None, list[Unusable]] = {}
        self._field_types: dict[str, str] | None = None

    def close(self) -> None:
        self.api.session.close()

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        with self.api.budget_of(seconds):
            yield

    # -- schema ----------------------------------------------------------------------------
    def tables_meta(self) -> list[dict[str, Any]]:
        url = self.api.build_url("meta/bases", self.settings.base_id, "tables")
        return list(self.api.request("GET", str(url))["tables"])

    def verify(self) -> None:
        """Refuse to start against a base that lacks what fnf writes, before touching anything."""
        try:
            meta = self.tables_meta()
        except StoreError as exc:
            if "403" in str(exc) or "401" in str(exc):
                log.warning("cannot read the base's schema (%s); continuing without the check", exc)
                self._field_types = {}
                return
            raise
        self._remember_types(meta)
        problems = sc.compare(self.layout, meta)
        if problems:
            listed = "; ".join(str(p) for p in problems[:8])
            more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
            raise SchemaError(
                f"the Airtable base {self.settings.base_id} is not ready for fnf: {listed}{more}. "
                "Nothing was changed; run fnf schema check for the full list and fnf schema apply to fix it"
            )

    def schema_problems(self) -> list[sc.Problem]:
        return sc.compare(self.layout, self.tables_meta())

    def apply_schema(self) -> list[str]:
        """Create the tables, fields and select options the base lacks; return what was done.

        Never deletes or retypes anything, and does nothing the second time.
        """
        done: list[str] = []
        base = self.settings.base_id
        meta = {t["name"]: t for t in self.tables_meta()}
        for table in self.layout.tables():
            found = meta.get(table.name)
            if found is None:
                fields = [spec.create_spec(self.layout(spec)) for spec in table.fields]
                url = str(self.api.build_url("meta/bases", base, "tables"))
                self.api.request("POST", url, json={"name": table.name, "fields": fields})
                done.append(f"created table {table.name!r} with {len(fields)} fields")
                continue
            have = {f["name"] for f in found.get("fields", [])}
            for spec in table.fields:
                if self.layout(spec) in have:
                    continue
                url = str(self.api.build_url("meta/bases", base, "tables", found["id"], "fields"))
                self.api.request("POST", url, json=spec.create_spec(self.layout(spec)))
                done.append(f"created field {self.layout(spec)!r} ({spec.type}) in table {table.name!r}")
            done.extend(self._add_choices(table, found))
        self._field_types = None
        done.extend(self._move_legacy(meta.get(self.settings.clients_table)))
        return done

    def _move_legacy(self, meta: Mapping[str, Any] | None) -> list[str]:
        """Earlier versions kept fnf's bookkeeping in eight fields per job type; copy what they
        hold into the job type's state cell (10 records a request). The old fields stay, unused,
        for the operator to delete: fnf never deletes a field."""
        have = {f["name"] for f in (meta or {}).get("fields", [])}
        done: list[str] = []
        for job_type in JobType:
            legacy = {role: self.layout(spec) for role, spec in sc.LEGACY_FIELDS[job_type].items()}
            if legacy["run_id"] not in have:
                continue
            present = {role: name for role, name in legacy.items() if name in have}
            target = self.layout.job(job_type, "state")
            formula = fx.all_of([fx.not_blank(legacy["run_id"]), fx.blank(target)])
            records = self._all(
                self._clients, fields=[*present.values(), self.layout.job(job_type, "date")], formula=formula
            )
            updates = [
                {"id": r["id"], "fields": {target: self._legacy_state(r["fields"], present, job_type)}} for r in records
            ]
            if not updates:
                continue
            self._clients.batch_update(updates)
            unused = ", ".join(repr(n) for n in present.values())
            done.append(
                f"moved the bookkeeping of {len(updates)} record(s) into {target!r}; "
                f"fnf no longer uses {unused} (delete them in Airtable when you like)"
            )
        return done

    def _legacy_state(self, values: Mapping[str, Any], names: Mapping[str, str], job_type: JobType) -> str:
        def get(role: str) -> Any:
            return values.get(names[role]) if role in names else None

        state = JobState(
            status=Status.COMPLETED,
            job_id="",
            run_id=str(get("run_id") or ""),
            sweep_id=str(get("sweep_id") or ""),
            last_run_date=cells.moment(values.get(self.layout.job(job_type, "date"))) or _EPOCH,
            last_run_seconds=cells.number(get("seconds")),
            timeouts_in_row=int(cells.number(get("timeouts_in_row")) or 0),
            quarantined_at=cells.moment(get("quarantined_at")),
            alert_kind=get("alert_kind") or None,
            alert_at=cells.moment(get("alert_at")),
            recent_seconds=parse_seconds(get("recent_seconds")),
        )
        return cells.bookkeeping(state)

    def _add_choices(self, table: sc.TableSpec, meta: Mapping[str, Any]) -> list[str]:
        """Airtable's API cannot edit a select field's options; a write with ``typecast`` adds
        them. So each missing option is written once on a temporary record, deleted at once."""
        missing = sc.missing_choices(self.layout, table, meta)
        if not missing:
            return []
        target: Any = self.api.table(self.settings.base_id, table.name)
        records = [{name: option} for name, options in missing.items() for option in options]
        for start in range(0, len(records), 10):
            created = target.batch_create(records[start : start + 10], typecast=True)
            target.batch_delete([r["id"] for r in created])
        return [
            f"added option(s) {', '.join(options)} to field {name!r} in table {table.name!r}"
            for name, options in missing.items()
        ]

    # -- helpers ---------------------------------------------------------------------------
    def _f(self, spec: sc.FieldSpec) -> str:
        return self.layout(spec)

    def _all(self, table: Any, **options: Any) -> list[Rec]:
        """Every matching record, page by page. Airtable's page offsets expire (after a few
        minutes, or when a retried request outlives them): the listing then starts over."""
        options.setdefault("page_size", 100)
        for _ in range(LISTING_RESTARTS):
            try:
                return list(table.all(**options))
            except ListingExpiredError as exc:
                log.warning("%s; reading the whole listing again", exc)
        return list(table.all(**options))

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    # -- clients -------------------------------------------------------------------------
    def _client_field_names(self) -> list[str]:
        return [self._f(s) for s in (sc.CLIENT_ID, sc.CLIENT_NAME, sc.STREAM, sc.ORDER, sc.CLIENT_DATA)]

    def _client_records(self, stream: int | None) -> list[tuple[Rec, Client]]:
        """The stream's clients in sweep order. Records with no usable stream are listed too, so
        that they are counted and named (``unusable``) instead of silently never run."""
        stream_field = self._f(sc.STREAM)
        formula = None if stream is None else fx.any_of([fx.eq(stream_field, stream), fx.blank(stream_field)])
        records = self._all(self._clients, fields=self._client_field_names(), formula=formula)
        records.sort(key=self._order_key)
        first: dict[str, str] = {}
        out: list[tuple[Rec, Client]] = []
        rejected: list[Unusable] = []
        for record in records:
            client = self._client(record)
            name = client.name
            if client.stream is None:
                raw = record["fields"].get(stream_field)
                why = "blank" if raw in (None, "") else f"{raw!r}, not a stream number"
                fix = "set it to 1, 2, 3 ... (or spread clients over streams: fnf streams assign)"
                rejected.append(Unusable(record["id"], name, f"{stream_field} is {why}; {fix}"))
                if stream is not None:
                    continue
            if client.id in first:
                rejected.append(
                    Unusable(
                        record["id"],
                        name,
                        f"{self._f(sc.CLIENT_ID)} {client.id!r} is also on record {first[client.id]}, which fnf "
                        "processes; give this record its own id (or clear the cell: fnf then uses the record id)",
                    )
                )
                continue
            first[client.id] = record["id"]
            self._client_recs[client.id] = record["id"]
            out.append((record, client))
        self._unusable[stream] = rejected
        for problem in rejected:
            self._warn_once(f"unusable:{problem.record}", "%s: not processed", problem)
        return out

    def unusable(self, stream: int | None = None) -> list[Unusable]:
        if stream not in self._unusable:
            self._client_records(stream)
        return list(self._unusable[stream])

    def _order_key(self, record: Rec) -> tuple[bool, float, str, str]:
        order = record["fields"].get(self._f(sc.ORDER))
        number = float(order) if isinstance(order, int | float) else None
        return (number is None, number or 0.0, str(record.get("createdTime", "")), record["id"])

    def _client_id(self, record: Rec) -> str:
        """``Client ID`` when set, else the record's own id, which lasts as long as the record."""
        value = record["fields"].get(self._f(sc.CLIENT_ID))
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)
        return str(record["id"])

    def _client(self, record: Rec) -> Client:
        values = record["fields"]
        client_id = self._client_id(record)
        stream = _stream(values.get(self._f(sc.STREAM)))
        data = values.get(self._f(sc.CLIENT_DATA))
        fields: dict[str, Any] = {}
        if data:
            try:
                loaded = json.loads(data)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                fields = loaded
            else:
                self._warn_once(
                    f"data:{record['id']}",
                    "record %s (client %r): %s is not JSON of an object (%r); the client runs without its fields "
                    'until the cell holds an object such as {"plan": "pro"}',
                    record["id"],
                    client_id,
                    self._f(sc.CLIENT_DATA),
                    str(data)[:40],
                )
        name = values.get(self._f(sc.CLIENT_NAME))
        return Client(client_id, "" if name is None else str(name), stream, fields)

    def list_clients(self, stream: int | None = None) -> list[Client]:
        return [client for _, client in self._client_records(stream)]

    def import_clients(self, clients: Sequence[Client]) -> ImportReport:
        known = {client.id: (record, client) for record, client in self._client_records(None)}
        orders = [self._order_key(record)[1] for record, _ in known.values() if not self._order_key(record)[0]]
        top = int(max(orders, default=0))
        added = updated = unchanged = 0
        upserts: dict[str, Rec] = {}
        by_record: list[Rec] = []
        for client in clients:
            previous = known.get(client.id)
            if previous is not None and previous[1] == client:
                unchanged += 1
                continue
            fields = {
                self._f(sc.CLIENT_NAME): client.name,
                self._f(sc.STREAM): client.stream,
                self._f(sc.CLIENT_DATA): json.dumps(dict(client.fields), sort_keys=True) if client.fields else None,
            }
            if previous is not None and previous[0]["id"] == client.id:  # known by its record id
                by_record.append({"id": client.id, "fields": fields})
                updated += 1
                continue
            fields[self._f(sc.CLIENT_ID)] = client.id
            if previous is None:
                top += 1
                fields[self._f(sc.ORDER)] = top
                added += 1
            else:
                updated += 1
            upserts[client.id] = {"fields": fields}
        if by_record:
            self._clients.batch_update(by_record)
        for record in self._clients.batch_upsert(list(upserts.values()), key_fields=[self._f(sc.CLIENT_ID)])["records"]:
            self._client_recs[str(record["fields"][self._f(sc.CLIENT_ID)])] = record["id"]
        return ImportReport(added, updated, unchanged)

    def remove_clients(self, client_ids: Sequence[str]) -> int:
        found = self._resolve(client_ids, refresh=True)
        self._clients.batch_delete(list(found.values()))
        for client_id in found:
            self._client_recs.pop(client_id, None)
        return len(found)

    def _resolve(self, client_ids: Sequence[str], *, refresh: bool = False) -> dict[str, str]:
        """Client id -> record id, looking up (20 ids per formula) the ones not yet known. An id
        may be a ``Client ID`` or, for a record without one, the record's own id."""
        wanted = list(dict.fromkeys(client_ids))
        unknown = wanted if refresh else [c for c in wanted if c not in self._client_recs]
        id_field = self._f(sc.CLIENT_ID)
        for start in range(0, len(unknown), 20):
            chunk = unknown[start : start + 20]
            for cid in chunk:
                self._client_recs.pop(cid, None)
            tests = [fx.eq(id_field, cid) for cid in chunk]
            tests += [f"RECORD_ID()={fx.quoted(cid)}" for cid in chunk if _RECORD_ID.fullmatch(cid)]
            records = self._all(self._clients, fields=[id_field], formula=fx.any_of(tests))
            for record in sorted(records, key=lambda r: (str(r.get("createdTime", "")), r["id"]), reverse=True):
                self._client_recs[self._client_id(record)] = record["id"]
        return {c: self._client_recs[c] for c in wanted if c in self._client_recs}

    # -- job states ----------------------------------------------------------------------
    def job_states(self, job_type: JobType, stream: int | None = None) -> dict[str, JobState]:
        names = {role: self.layout.job(job_type, role) for role in sc.ROLES}
        parts = [fx.not_blank(names["status"])]
        if stream is not None:
            parts.append(fx.eq(self._f(sc.STREAM), stream))
        id_field = self._f(sc.CLIENT_ID)
        records = self._all(self._clients, fields=[id_field, *names.values()], formula=fx.all_of(parts))
        records.sort(key=lambda r: (str(r.get("createdTime", "")), r["id"]))
        out: dict[str, JobState] = {}
        for record in records:
            client_id = self._client_id(record)
            if client_id in out:
                continue
            state = self._state(record["id"], record["fields"], names)
            if state is not None:
                self._client_recs.setdefault(client_id, record["id"])
                out[client_id] = state
        return out

    def _state(self, record_id: str, values: Mapping[str, Any], names: Mapping[str, str]) -> JobState | None:
        raw = values.get(names["status"])
        try:
            status = Status(str(raw).strip())
        except ValueError:
            self._warn_once(
                f"status:{record_id}:{raw}",
                "record %s: %s is %r, not a status fnf writes; treated as not yet processed",
                record_id,
                names["status"],
                raw,
            )
            return None
        return cells.job_state({role: values.get(name) for role, name in names.items()}, status)

    def _types(self) -> Mapping[str, str]:
        """Field name -> type in the Clients table, read once (values are written in the form
        each field holds). Without schema access, fnf's own types are assumed."""
        if self._field_types is None:
            try:
                meta = self.tables_meta()
            except StoreError as exc:
                if "401" not in str(exc) and "403" not in str(exc):
                    raise
                meta = []
            self._remember_types(meta)
        return self._field_types or {}

    def _remember_types(self, meta: Sequence[Mapping[str, Any]]) -> None:
        table = next((t for t in meta if t.get("name") == self.settings.clients_table), None)
        fields = table.get("fields", []) if table is not None else []
        self._field_types = {str(f.get("name")): str(f.get("type")) for f in fields}

    def _state_fields(self, job_type: JobType, state: JobState) -> dict[str, Any]:
        name, types = self.layout.job, self._types()
        return {
            name(job_type, "status"): state.status.value,
            name(job_type, "job_id"): state.job_id,
            name(job_type, "date"): cells.date_cell(state.last_run_date, types.get(name(job_type, "date"))),
            name(job_type, "time"): cells.time_cell(state.last_run_seconds, types.get(name(job_type, "time"))),
            name(job_type, "count"): cells.count_cell(state.count, types.get(name(job_type, "count"))),
            name(job_type, "message"): state.message,
            name(job_type, "state"): cells.bookkeeping(state),
        }

    def save(self, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
        self._check_lease(progress.run_id)
        self._progress[progress.run_id] = progress
        written = self._put(updates)
        starting = {u.client_id for u in updates if u.state.status is Status.STARTED}
        if progress.stream is None or not starting:
            return frozenset()
        # the write answers with each record as it now is: a client an operator removed or moved
        # to another stream since the run read its stream is refused, at no extra request
        stream_field = self._f(sc.STREAM)
        refused = frozenset(
            cid for cid in starting if cid not in written or _stream(written[cid].get(stream_field)) != progress.stream
        )
        self._undo([u for u in updates if u.client_id in refused and u.client_id in written])
        return refused

    def _undo(self, starts: Sequence[StateUpdate]) -> None:
        """Put back what a refused start overwrote (an extra request, only when a client moved)."""
        restore: dict[str, dict[str, Any]] = {}
        for update in starts:
            if update.replaces is not None:
                fields = self._state_fields(update.job_type, update.replaces)
            else:
                fields = {self.layout.job(update.job_type, role): None for role in sc.ROLES}
            restore.setdefault(update.client_id, {}).update(fields)
        if restore:
            self._write_states(restore, self._resolve(list(restore)))

    def put_states(self, updates: Sequence[StateUpdate]) -> None:
        self._put(updates)

    def _put(self, updates: Sequence[StateUpdate]) -> dict[str, Mapping[str, Any]]:
        """Write the states (one request per 10 clients); returns each written client's record fields."""
        merged: dict[str, dict[str, Any]] = {}
        for update in updates:
            merged.setdefault(update.client_id, {}).update(self._state_fields(update.job_type, update.state))
        if not merged:
            return {}
        try:
            return self._write_states(merged, self._resolve(list(merged)))
        except RecordGoneError:
            return self._write_states(merged, self._resolve(list(merged), refresh=True))

    def _write_states(
        self, merged: Mapping[str, dict[str, Any]], records: Mapping[str, str]
    ) -> dict[str, Mapping[str, Any]]:
        batch = [{"id": records[cid], "fields": fields} for cid, fields in merged.items() if cid in records]
        if not batch:
            return {}
        by_record = {record_id: cid for cid, record_id in records.items()}
        written = self._clients.batch_update(batch)
        return {by_record[r["id"]]: r.get("fields", {}) for r in written if r.get("id") in by_record}

    def _check_lease(self, run_id: str) -> None:
        if run_id in self._lost:
            raise _lost(run_id)
        if self._recently_confirmed(run_id):
            return
        record = self._run_record(run_id)
        if record is None or not _holds(record["fields"], self.layout):
            self._lost.add(run_id)
            raise _lost(run_id)
        self._confirmed[run_id] = self._monotonic()

    def _recently_confirmed(self, run_id: str) -> bool:
        """No other run can have taken over a lease confirmed less than half a stale period ago."""
        confirmed = self._confirmed.get(run_id)
        return confirmed is not None and self._monotonic() - confirmed < self._stale_after.get(run_id, 0.0) / 2

    # -- sweeps --------------------------------------------------------------------------
    def _sweep_formula(self, job_type: JobType, stream: int, *, open_only: bool) -> str:
        parts = [fx.eq(self._f(sc.SWEEP_TYPE), job_type.value), fx.eq(self._f(sc.SWEEP_STREAM), stream)]
        if open_only:
            parts.append(fx.blank(self._f(sc.CLOSED_AT)))
        return fx.all_of(parts)

    def open_sweep(self, job_type: JobType, stream: int) -> Sweep | None:
        records = self._all(
            self._sweeps,
            formula=self._sweep_formula(job_type, stream, open_only=True),
            sort=["-" + self._f(sc.SWEEP_NUMBER)],
            max_records=1,
        )
        return self._sweep(records[0]) if records else None

    def start_sweep(self, job_type: JobType, stream: int, run_id: str, now: datetime) -> Sweep:
        # Every start closes all open sweeps, so any still open are among the latest few.
        latest = self._all(
            self._sweeps,
            formula=self._sweep_formula(job_type, stream, open_only=False),
            fields=[self._f(sc.SWEEP_NUMBER), self._f(sc.CLOSED_AT), self._f(sc.SWEEP_ID)],
            sort=["-" + self._f(sc.SWEEP_NUMBER)],
            max_records=5,
            page_size=5,
        )
        still_open = [r for r in latest if not r["fields"].get(self._f(sc.CLOSED_AT))]
        if still_open:
            closing = {self._f(sc.CLOSED_AT): iso(now), self._f(sc.CLOSE_REASON): "superseded"}
            self._sweeps.batch_update([{"id": r["id"], "fields": closing} for r in still_open])
            for r in still_open:
                self._open_sweeps.discard(str(r["fields"].get(self._f(sc.SWEEP_ID))))
        number = int(latest[0]["fields"].get(self._f(sc.SWEEP_NUMBER)) or 0) + 1 if latest else 1
        sweep = Sweep(uuid.uuid4().hex[:12], job_type, stream, number, cells.moment(iso(now)) or now, run_id)
        fields = {
            self._f(sc.SWEEP_ID): sweep.id,
            self._f(sc.SWEEP_TYPE): job_type.value,
            self._f(sc.SWEEP_STREAM): stream,
            self._f(sc.SWEEP_NUMBER): number,
            self._f(sc.OPENED_AT): iso(now),
            self._f(sc.OPENED_BY): run_id,
        }
        (record,) = self._sweeps.batch_upsert([{"fields": fields}], key_fields=[self._f(sc.SWEEP_ID)])["records"]
        self._sweep_recs[sweep.id] = record["id"]
        self._open_sweeps.add(sweep.id)
        return sweep

    def close_sweep(self, sweep_id: str, now: datetime, reason: str) -> None:
        closing = {self._f(sc.CLOSED_AT): iso(now), self._f(sc.CLOSE_REASON): reason}
        record_id = self._sweep_recs.get(sweep_id)
        if sweep_id in self._open_sweeps and record_id is not None:  # seen open by this holder
            self._sweeps.update(record_id, closing)
            self._open_sweeps.discard(sweep_id)
            return
        if record_id is None:
            found = self._all(self._sweeps, formula=fx.eq(self._f(sc.SWEEP_ID), sweep_id), max_records=1)
            if not found:
                return
            record = found[0]
        else:
            record = self._sweeps.get(record_id)
        if record["fields"].get(self._f(sc.CLOSED_AT)):
            return
        self._sweeps.update(record["id"], closing)

    def _sweep(self, record: Rec) -> Sweep:
        values = record["fields"]
        sweep_id = str(values.get(self._f(sc.SWEEP_ID)))
        self._sweep_recs[sweep_id] = record["id"]
        if not values.get(self._f(sc.CLOSED_AT)):
            self._open_sweeps.add(sweep_id)
        return Sweep(
            id=sweep_id,
            job_type=JobType(values.get(self._f(sc.SWEEP_TYPE))),
            stream=int(values.get(self._f(sc.SWEEP_STREAM)) or 0),
            number=int(values.get(self._f(sc.SWEEP_NUMBER)) or 0),
            opened_at=cells.moment(values.get(self._f(sc.OPENED_AT))) or _EPOCH,
            opened_by=str(values.get(self._f(sc.OPENED_BY)) or ""),
            closed_at=cells.moment(values.get(self._f(sc.CLOSED_AT))),
            close_reason=values.get(self._f(sc.CLOSE_REASON)),
        )

    # -- runs and leases -----------------------------------------------------------------
    def acquire(
        self,
        run: RunRecord,
        job_types: Sequence[JobType],
        stale_after: float,
        is_dead: LeaseJudge,
    ) -> Acquired | Busy:
        wanted = set(job_types)
        self._stale_after[run.run_id] = stale_after
        rivals: list[Lease] = []
        settles = 0
        seen: dict[str, Lease] = {}
        for attempt in range(ACQUIRE_ATTEMPTS):
            blocking = [held for held, _ in self._live(run.stream, wanted) if not is_dead(held)]
            if blocking:
                # A claim made a moment ago may still withdraw (it may itself have met a rival):
                # look again shortly before calling the stream busy, or nobody might run this tick.
                if settles < SETTLE_LOOKS and any(_settling(held, run) for held in blocking):
                    settles += 1
                    seen.update((held.holder.run_id, held) for held in blocking)
                    self._sleep(random.uniform(0.2, 0.5))
                    continue
                return Busy(blocking[0])
            finished = self._still_recorded(seen)
            if finished is not None:
                # the claim we waited on was a real run that has already ended: this tick coincided
                # with it, and must not start the stream over right after it
                return Busy(finished)
            self._upsert_run(run, " ".join(t.value for t in job_types), stale_after)
            live = self._live(run.stream, wanted)
            rivals = [held for held, _ in live if held.holder.run_id != run.run_id and not is_dead(held)]
            if not rivals:
                dead = [(held, rec) for held, rec in live if held.holder.run_id != run.run_id]
                self._abandon(dead, run.run_id)
                self._confirmed[run.run_id] = self._monotonic()
                return Acquired(tuple(held for held, _ in dead))
            log.info(
                "run %s and run %s claimed stream %d together; withdrawing and retrying",
                run.run_id,
                rivals[0].holder.run_id,
                run.stream,
            )
            self._runs.delete(self._run_recs.pop(run.run_id))
            self._sleep(random.uniform(0.1, 0.6) * (attempt + 1))
        return Busy(rivals[0])

    def _still_recorded(self, seen: Mapping[str, Lease]) -> Lease | None:
        """The first of ``seen`` whose run record still exists (it ran and ended, not withdrew)."""
        for run_id, held in seen.items():
            if self._all(self._runs, formula=fx.eq(self._f(sc.RUN_ID), run_id), fields=[self._f(sc.RUN_ID)]):
                return held
        return None

    def _live(self, stream: int, wanted: set[JobType]) -> list[tuple[Lease, Rec]]:
        formula = fx.all_of([fx.eq(self._f(sc.RUN_STREAM), stream), fx.not_blank(self._f(sc.LEASES))])
        out: list[tuple[Lease, Rec]] = []
        for record in self._all(self._runs, formula=formula):
            out.extend((held, record) for held in self._leases_of(record) if held.job_type in wanted)
        return out

    def _abandon(self, dead: Sequence[tuple[Lease, Rec]], taker: str) -> None:
        changes: dict[str, dict[str, Any]] = {}
        for held, record in dead:
            values = record["fields"]
            if values.get(self._f(sc.OUTCOME)):
                continue
            changes[record["id"]] = {
                self._f(sc.OUTCOME): Outcome.ABANDONED.value,
                self._f(sc.ENDED_AT): iso(held.heartbeat_at),
                self._f(sc.LEASES): None,
                self._f(sc.RUN_MESSAGE): values.get(self._f(sc.RUN_MESSAGE))
                or f"taken over by run {taker} (heartbeat stopped)",
            }
            if held.holder.run_id in self._confirmed:
                self._lost.add(held.holder.run_id)
        if changes:
            self._runs.batch_update([{"id": rid, "fields": f} for rid, f in changes.items()])

    def _run_fields(self, run: RunRecord) -> dict[str, Any]:
        holder, counts = run.holder, run.counts
        f = self._f
        return {
            f(sc.RUN_ID): run.run_id,
            f(sc.RUN_JOB_ID): run.job_id,
            f(sc.RUN_TYPE): run.run_type,
            f(sc.RUN_STREAM): run.stream,
            f(sc.HOST): holder.host,
            f(sc.PID): holder.pid,
            f(sc.BOOT_ID): holder.boot_id,
            f(sc.PID_START): holder.pid_start,
            f(sc.STARTED_AT): iso(run.started_at),
            f(sc.HEARTBEAT_AT): iso(run.heartbeat_at),
            f(sc.ENDED_AT): iso(run.ended_at),
            f(sc.OUTCOME): run.outcome.value if run.outcome else None,
            f(sc.COMPLETED): counts.completed,
            f(sc.FAILED): counts.failed,
            f(sc.TIMED_OUT): counts.timed_out,
            f(sc.REMAINING): counts.remaining,
            f(sc.SKIPPED): counts.skipped,
            f(sc.STOPPED_AT): run.stopped_at,
            f(sc.RUN_MESSAGE): run.message,
            f(sc.RUN_ALERTS): run.alerts,
        }

    def now(self, local: datetime) -> datetime:
        return self.api.clock.now() or local

    def _upsert_run(self, run: RunRecord, leases: str | None, stale_after: float | None) -> None:
        fields = self._run_fields(run)
        fields[self._f(sc.LEASES)] = leases
        fields[self._f(sc.STALE_AFTER)] = stale_after
        (record,) = self._runs.batch_upsert([{"fields": fields}], key_fields=[self._f(sc.RUN_ID)])["records"]
        self._run_recs[run.run_id] = record["id"]

    def _run_record(self, run_id: str) -> Rec | None:
        record_id = self._run_recs.get(run_id)
        if record_id is not None:
            try:
                return dict(self._runs.get(record_id))
            except RecordGoneError:
                self._run_recs.pop(run_id, None)
        found = self._all(self._runs, formula=fx.eq(self._f(sc.RUN_ID), run_id), max_records=1)
        if not found:
            return None
        self._run_recs[run_id] = found[0]["id"]
        return found[0]

    def heartbeat(self, run_id: str, now: datetime) -> bool:
        if run_id in self._lost:
            return False
        with self.api.budget_of(HEARTBEAT_BUDGET_SECONDS):
            record = self._run_record(run_id)
            if record is None or not _holds(record["fields"], self.layout):
                self._lost.add(run_id)
                return False
            fields: dict[str, Any] = {self._f(sc.HEARTBEAT_AT): iso(now)}
            fields.update(self._progress_fields(run_id))
            self._runs.update(record["id"], fields)
        self._confirmed[run_id] = self._monotonic()
        return True

    def _progress_fields(self, run_id: str) -> dict[str, Any]:
        progress = self._progress.get(run_id)
        if progress is None:
            return {}
        counts = progress.counts
        return {
            self._f(sc.COMPLETED): counts.completed,
            self._f(sc.FAILED): counts.failed,
            self._f(sc.TIMED_OUT): counts.timed_out,
            self._f(sc.REMAINING): counts.remaining,
            self._f(sc.STOPPED_AT): progress.stopped_at,
        }

    def finish_run(self, finish: RunFinish) -> None:
        if finish.run_id in self._lost:
            return  # abandoned meanwhile: the taker's account stands
        record_id = self._run_recs.get(finish.run_id)
        if record_id is None or not self._recently_confirmed(finish.run_id):
            record = self._run_record(finish.run_id)
            if record is None:
                return
            recorded = record["fields"].get(self._f(sc.OUTCOME))
            if recorded and recorded != finish.outcome.value:
                return
            record_id = record["id"]
        counts = finish.counts
        fields = {
            self._f(sc.ENDED_AT): iso(finish.ended_at),
            self._f(sc.OUTCOME): finish.outcome.value,
            self._f(sc.COMPLETED): counts.completed,
            self._f(sc.FAILED): counts.failed,
            self._f(sc.TIMED_OUT): counts.timed_out,
            self._f(sc.REMAINING): counts.remaining,
            self._f(sc.SKIPPED): counts.skipped,
            self._f(sc.STOPPED_AT): finish.stopped_at,
            self._f(sc.RUN_MESSAGE): finish.message,
            self._f(sc.RUN_ALERTS): finish.alerts,
            self._f(sc.LEASES): None,
        }
        self._runs.update(record_id, fields)
        self._progress.pop(finish.run_id, None)
        self._confirmed.pop(finish.run_id, None)

    def record_run(self, run: RunRecord) -> None:
        self._upsert_run(run, None, None)

    def runs(self, *, limit: int = 50, run_type: str | None = None, stream: int | None = None) -> list[RunRecord]:
        parts = []
        if run_type is not None:
            parts.append(fx.eq(self._f(sc.RUN_TYPE), run_type))
        if stream is not None:
            parts.append(fx.eq(self._f(sc.RUN_STREAM), stream))
        records = self._all(
            self._runs,
            formula=fx.all_of(parts) if parts else None,
            sort=["-" + self._f(sc.STARTED_AT)],
            max_records=limit,
            page_size=min(100, max(1, limit)),
        )
        return [self._run(record) for record in records]

    def prune_runs(self, before: datetime) -> int:
        formula = fx.all_of(
            [
                fx.not_blank(self._f(sc.ENDED_AT)),
                f"IS_BEFORE({fx.field(self._f(sc.ENDED_AT))},{fx.quoted(iso(before) or '')})",
                fx.blank(self._f(sc.LEASES)),
            ]
        )
        records = self._all(self._runs, formula=formula, fields=[self._f(sc.RUN_ID)])
        self._runs.batch_delete([r["id"] for r in records])
        return len(records)

    def leases(self) -> list[Lease]:
        records = self._all(self._runs, formula=fx.not_blank(self._f(sc.LEASES)))
        found = [held for record in records for held in self._leases_of(record)]
        return sorted(found, key=lambda held: (held.job_type.value, held.stream))

    def _holder(self, values: Mapping[str, Any]) -> Holder:
        f = self._f
        return Holder(
            run_id=str(values.get(f(sc.RUN_ID)) or ""),
            host=str(values.get(f(sc.HOST)) or "?"),
            pid=int(values.get(f(sc.PID)) or 0),
            boot_id=str(values.get(f(sc.BOOT_ID)) or ""),
            pid_start=str(values.get(f(sc.PID_START)) or ""),
        )

    def _run(self, record: Rec) -> RunRecord:
        values, f = record["fields"], self._f
        outcome = values.get(f(sc.OUTCOME))
        run_id = str(values.get(f(sc.RUN_ID)) or "")
        self._run_recs.setdefault(run_id, record["id"])
        return RunRecord(
            run_id=run_id,
            run_type=str(values.get(f(sc.RUN_TYPE)) or ""),
            stream=int(values.get(f(sc.RUN_STREAM)) or 0),
            job_id=str(values.get(f(sc.RUN_JOB_ID)) or ""),
            holder=self._holder(values),
            started_at=cells.moment(values.get(f(sc.STARTED_AT))) or _EPOCH,
            heartbeat_at=cells.moment(values.get(f(sc.HEARTBEAT_AT))) or _EPOCH,
            ended_at=cells.moment(values.get(f(sc.ENDED_AT))),
            outcome=Outcome(outcome) if outcome in Outcome.__members__.values() else None,
            counts=RunCounts(
                int(values.get(f(sc.COMPLETED)) or 0),
                int(values.get(f(sc.FAILED)) or 0),
                int(values.get(f(sc.TIMED_OUT)) or 0),
                int(values.get(f(sc.REMAINING)) or 0),
                int(values.get(f(sc.SKIPPED)) or 0),
            ),
            stopped_at=values.get(f(sc.STOPPED_AT)),
            message=values.get(f(sc.RUN_MESSAGE)),
            alerts=values.get(f(sc.RUN_ALERTS)),
        )

    def _leases_of(self, record: Rec) -> list[Lease]:
        values, f = record["fields"], self._f
        if values.get(f(sc.OUTCOME)):
            return []
        run = self._run(record)
        types = [JobType(t) for t in str(values.get(f(sc.LEASES)) or "").split() if t in JobType.__members__.values()]
        stale = values.get(f(sc.STALE_AFTER))
        return [Lease(t, run.stream, run.holder, run.started_at, run.heartbeat_at, float(stale or 0.0)) for t in types]


def _settling(held: Lease, run: RunRecord) -> bool:
    return abs((run.started_at - held.acquired_at).total_seconds()) < CLAIM_SETTLE_SECONDS


def _holds(values: Mapping[str, Any], layout: sc.Layout) -> bool:
    return bool(values.get(layout(sc.LEASES))) and not values.get(layout(sc.OUTCOME))


def _lost(run_id: str) -> LeaseLostError:
    return LeaseLostError(f"run {run_id} no longer holds its stream (another run took over); stopping without writing")


def _stream(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value.strip()) > 0:
        return int(value.strip())
    return None
