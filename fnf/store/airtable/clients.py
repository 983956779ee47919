"""The operators' Clients table: who the clients are, in which stream and order, and where each
job type of each client stands.

A client's id is its ``Client ID`` cell, or the record's own id where that is blank. Records fnf
cannot run (no stream, a duplicate id) are listed, counted and named (``unusable``), never
silently skipped. The states of several clients are written in one request (10 records each).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fnf import formula as fx
from fnf.models import Client, JobState, JobType, StateUpdate, Status
from fnf.store.airtable import schema as sc
from fnf.store.airtable.http import RecordGoneError, every
from fnf.store.airtable.records import Rec, Records, stream_of
from fnf.store.airtable.setup import BaseSetup
from fnf.store.base import ImportReport, Unusable

_RECORD_ID = re.compile(r"rec[A-Za-z0-9]{14}")
_IDS_PER_LOOKUP = 20


class ClientTable:
    def __init__(self, table: Any, records: Records, setup: BaseSetup) -> None:
        self.table, self.records, self.setup = table, records, setup
        self._record_of: dict[str, str] = {}
        self._unusable: dict[int | None, list[Unusable]] = {}

    # -- who the clients are -------------------------------------------------------------
    def listed(self, stream: int | None, extra_fields: Sequence[str] = ()) -> list[tuple[Rec, Client]]:
        """The stream's clients in sweep order (with ``extra_fields`` in their records). Records
        with no usable stream are listed too, so that they are counted and named (``unusable``)
        instead of silently never run."""
        stream_field = self.records.f(sc.STREAM)
        formula = None if stream is None else fx.any_of([fx.eq(stream_field, stream), fx.blank(stream_field)])
        found = every(self.table, fields=[*self.records.client_fields(), *extra_fields], formula=formula)
        found.sort(key=self.records.order_key)
        first: dict[str, str] = {}
        out: list[tuple[Rec, Client]] = []
        rejected: list[Unusable] = []
        for record in found:
            client = self.records.client(record)
            if client.stream is None:
                rejected.append(self._streamless(record, client))
                if stream is not None:
                    continue
            if client.id in first:
                rejected.append(self._duplicate(record, client, first[client.id]))
                continue
            first[client.id] = record["id"]
            self._record_of[client.id] = record["id"]
            out.append((record, client))
        self._unusable[stream] = rejected
        for problem in rejected:
            self.records.warnings.warn(f"unusable:{problem.record}", "%s: not processed", problem)
        return out

    def read_stream(
        self, stream: int, job_types: Sequence[JobType]
    ) -> tuple[list[Client], dict[JobType, dict[str, JobState]]]:
        """The stream's clients and their states for ``job_types`` from one listing (a request per
        100 clients, where reading them apart costs two). A client's state is its listed record's."""
        names = {t: {role: self.records.layout.job(t, role) for role in sc.ROLES} for t in job_types}
        listed = self.listed(stream, [name for roles in names.values() for name in roles.values()])
        states: dict[JobType, dict[str, JobState]] = {t: {} for t in job_types}
        for record, client in listed:
            for job_type, roles in names.items():
                if record["fields"].get(roles["status"]) in (None, ""):
                    continue  # never processed
                state = self.records.state(record["id"], record["fields"], roles)
                if state is not None:
                    states[job_type][client.id] = state
        return [client for _, client in listed], states

    def _streamless(self, record: Rec, client: Client) -> Unusable:
        field = self.records.f(sc.STREAM)
        raw = record["fields"].get(field)
        why = "blank" if raw in (None, "") else f"{raw!r}, not a stream number"
        fix = "set it to 1, 2, 3 ... (or spread clients over streams: fnf streams assign)"
        return Unusable(record["id"], client.name, f"{field} is {why}; {fix}")

    def _duplicate(self, record: Rec, client: Client, kept: str) -> Unusable:
        return Unusable(
            record["id"],
            client.name,
            f"{self.records.f(sc.CLIENT_ID)} {client.id!r} is also on record {kept}, which fnf "
            "processes; give this record its own id (or clear the cell: fnf then uses the record id)",
        )

    def unusable(self, stream: int | None) -> list[Unusable]:
        if stream not in self._unusable:
            self.listed(stream)
        return list(self._unusable[stream])

    def import_clients(self, clients: Sequence[Client]) -> ImportReport:
        known = {client.id: (record, client) for record, client in self.listed(None)}
        keys = [self.records.order_key(record) for record, _ in known.values()]
        top = int(max((key[1] for key in keys if not key[0]), default=0))
        added = updated = unchanged = 0
        upserts: dict[str, Rec] = {}
        by_record: list[Rec] = []
        for client in clients:
            previous = known.get(client.id)
            if previous is not None and previous[1] == client:
                unchanged += 1
                continue
            cells = self.records.client_cells(client)
            if previous is not None and previous[0]["id"] == client.id:  # known by its record id
                by_record.append({"id": client.id, "fields": cells})
                updated += 1
                continue
            cells[self.records.f(sc.CLIENT_ID)] = client.id
            if previous is None:
                top += 1
                cells[self.records.f(sc.ORDER)] = top
                added += 1
            else:
                updated += 1
            upserts[client.id] = {"fields": cells}
        self._write_clients(by_record, list(upserts.values()))
        return ImportReport(added, updated, unchanged)

    def _write_clients(self, by_record: list[Rec], upserts: list[Rec]) -> None:
        if by_record:
            self.table.batch_update(by_record)
        id_field = self.records.f(sc.CLIENT_ID)
        for record in self.table.batch_upsert(upserts, key_fields=[id_field])["records"]:
            self._record_of[str(record["fields"][id_field])] = record["id"]

    def remove(self, client_ids: Sequence[str]) -> int:
        found = self.resolve(client_ids, refresh=True)
        self.table.batch_delete(list(found.values()))
        for client_id in found:
            self._record_of.pop(client_id, None)
        return len(found)

    def resolve(self, client_ids: Sequence[str], *, refresh: bool = False) -> dict[str, str]:
        """Client id -> record id, looking up (20 ids per formula) the ones not yet known. An id
        may be a ``Client ID`` or, for a record without one, the record's own id."""
        wanted = list(dict.fromkeys(client_ids))
        unknown = wanted if refresh else [c for c in wanted if c not in self._record_of]
        id_field = self.records.f(sc.CLIENT_ID)
        for start in range(0, len(unknown), _IDS_PER_LOOKUP):
            chunk = unknown[start : start + _IDS_PER_LOOKUP]
            for cid in chunk:
                self._record_of.pop(cid, None)
            tests = [fx.eq(id_field, cid) for cid in chunk]
            tests += [f"RECORD_ID()={fx.quoted(cid)}" for cid in chunk if _RECORD_ID.fullmatch(cid)]
            found = every(self.table, fields=[id_field], formula=fx.any_of(tests))
            for record in sorted(found, key=lambda r: (str(r.get("createdTime", "")), r["id"]), reverse=True):
                self._record_of[self.records.client_id(record)] = record["id"]
        return {c: self._record_of[c] for c in wanted if c in self._record_of}

    # -- where each job stands -----------------------------------------------------------
    def job_states(self, job_type: JobType, stream: int | None) -> dict[str, JobState]:
        names = {role: self.records.layout.job(job_type, role) for role in sc.ROLES}
        parts = [fx.not_blank(names["status"])]
        if stream is not None:
            parts.append(fx.eq(self.records.f(sc.STREAM), stream))
        id_field = self.records.f(sc.CLIENT_ID)
        found = every(self.table, fields=[id_field, *names.values()], formula=fx.all_of(parts))
        found.sort(key=lambda r: (str(r.get("createdTime", "")), r["id"]))
        out: dict[str, JobState] = {}
        for record in found:
            client_id = self.records.client_id(record)
            if client_id in out:
                continue
            state = self.records.state(record["id"], record["fields"], names)
            if state is not None:
                self._record_of.setdefault(client_id, record["id"])
                out[client_id] = state
        return out

    def save(self, updates: Sequence[StateUpdate], stream: int | None) -> frozenset[str]:
        """Write the states; return the starts refused because the client is no longer in
        ``stream`` (removed or moved since the run read it), with what they overwrote put back."""
        written = self.put(updates)
        starting = {u.client_id for u in updates if u.state.status is Status.STARTED}
        if stream is None or not starting:
            return frozenset()
        # the write answers with each record as it now is: a moved client is seen at no extra request
        field = self.records.f(sc.STREAM)
        refused = frozenset(
            cid for cid in starting if cid not in written or stream_of(written[cid].get(field)) != stream
        )
        self._undo([u for u in updates if u.client_id in refused and u.client_id in written])
        return refused

    def _undo(self, starts: Sequence[StateUpdate]) -> None:
        """Put back what a refused start overwrote (an extra request, only when a client moved)."""
        restore: dict[str, dict[str, Any]] = {}
        types = self.setup.field_types()
        for update in starts:
            restore.setdefault(update.client_id, {}).update(
                self.records.state_cells(update.job_type, update.replaces, types)
            )
        if restore:
            self._write(restore, self.resolve(list(restore)))

    def put(self, updates: Sequence[StateUpdate]) -> dict[str, Mapping[str, Any]]:
        """Write the states (one request per 10 clients); returns each written client's record fields."""
        if not updates:
            return {}
        merged: dict[str, dict[str, Any]] = {}
        types = self.setup.field_types()
        for update in updates:
            merged.setdefault(update.client_id, {}).update(
                self.records.state_cells(update.job_type, update.state, types)
            )
        if not merged:
            return {}
        try:
            return self._write(merged, self.resolve(list(merged)))
        except RecordGoneError:
            return self._write(merged, self.resolve(list(merged), refresh=True))

    def _write(self, merged: Mapping[str, dict[str, Any]], records: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:
        batch = [{"id": records[cid], "fields": fields} for cid, fields in merged.items() if cid in records]
        if not batch:
            return {}
        by_record = {record_id: cid for cid, record_id in records.items()}
        written = self.table.batch_update(batch)
        return {by_record[r["id"]]: r.get("fields", {}) for r in written if r.get("id") in by_record}
