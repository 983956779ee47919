"""The Sweeps table: one record per sweep of a (job type, stream), opened by a run, closed when
every client is done or when a newer sweep supersedes it. Sweep ids are written by upsert, so a
retried write never opens a sweep twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fnf import formula as fx
from fnf.clock import iso
from fnf.models import JobType, Sweep
from fnf.store.airtable import cells
from fnf.store.airtable import schema as sc
from fnf.store.airtable.http import every, first
from fnf.store.airtable.records import Rec, Records

_LATEST = 5
"""Every start closes all open sweeps, so any still open are among the latest few."""


class SweepTable:
    def __init__(self, table: Any, records: Records) -> None:
        self.table, self.records = table, records
        self._record_of: dict[str, str] = {}
        self._open: set[str] = set()

    def _f(self, spec: sc.FieldSpec) -> str:
        return self.records.f(spec)

    def _formula(self, job_type: JobType, stream: int, *, open_only: bool) -> str:
        parts = [fx.eq(self._f(sc.SWEEP_TYPE), job_type.value), fx.eq(self._f(sc.SWEEP_STREAM), stream)]
        if open_only:
            parts.append(fx.blank(self._f(sc.CLOSED_AT)))
        return fx.all_of(parts)

    def open_sweep(self, job_type: JobType, stream: int) -> Sweep | None:
        formula = self._formula(job_type, stream, open_only=True)
        found = first(self.table, formula=formula, sort=["-" + self._f(sc.SWEEP_NUMBER)])
        return self._sweep(found) if found else None

    def start(self, job_type: JobType, stream: int, run_id: str, now: datetime) -> Sweep:
        latest = every(
            self.table,
            formula=self._formula(job_type, stream, open_only=False),
            fields=[self._f(sc.SWEEP_NUMBER), self._f(sc.CLOSED_AT), self._f(sc.SWEEP_ID)],
            sort=["-" + self._f(sc.SWEEP_NUMBER)],
            max_records=_LATEST,
            page_size=_LATEST,
        )
        self._supersede([r for r in latest if not r["fields"].get(self._f(sc.CLOSED_AT))], now)
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
        (record,) = self.table.batch_upsert([{"fields": fields}], key_fields=[self._f(sc.SWEEP_ID)])["records"]
        self._record_of[sweep.id] = record["id"]
        self._open.add(sweep.id)
        return sweep

    def _supersede(self, still_open: list[Rec], now: datetime) -> None:
        if not still_open:
            return
        closing = {self._f(sc.CLOSED_AT): iso(now), self._f(sc.CLOSE_REASON): "superseded"}
        self.table.batch_update([{"id": r["id"], "fields": closing} for r in still_open])
        for r in still_open:
            self._open.discard(str(r["fields"].get(self._f(sc.SWEEP_ID))))

    def close(self, sweep_id: str, now: datetime, reason: str) -> None:
        closing = {self._f(sc.CLOSED_AT): iso(now), self._f(sc.CLOSE_REASON): reason}
        record_id = self._record_of.get(sweep_id)
        if sweep_id in self._open and record_id is not None:  # seen open by this holder
            self.table.update(record_id, closing)
            self._open.discard(sweep_id)
            return
        if record_id is None:
            record = first(self.table, formula=fx.eq(self._f(sc.SWEEP_ID), sweep_id))
            if record is None:
                return
        else:
            record = self.table.get(record_id)
        if record["fields"].get(self._f(sc.CLOSED_AT)):
            return
        self.table.update(record["id"], closing)

    def _sweep(self, record: Rec) -> Sweep:
        sweep = self.records.sweep(record)
        self._record_of[sweep.id] = record["id"]
        if sweep.closed_at is None and not record["fields"].get(self._f(sc.CLOSED_AT)):
            self._open.add(sweep.id)
        return sweep
