"""The Job Runs table: one record per run, and the live leases, decided by claim-and-check.

Airtable has no transactions, so one run per (type, stream) is decided this way: a run writes its
claim (its run record, naming the job types it takes in ``Leases``), reads the live claims back,
and keeps its claim only if it sees no other live one; otherwise it deletes its claim, waits a
random moment and tries again. Two runs can both withdraw, but never both proceed: the later of
two claims always sees the earlier one. Whether a holder is dead is the run's judgement
(``LeaseJudge``), not this table's.

A lease is re-checked before a write whenever its last confirmation is older than half the
stale period (a takeover needs a full stale period).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fnf import formula as fx
from fnf.clock import iso
from fnf.errors import LeaseLostError
from fnf.models import JobType, Lease, Outcome, RunRecord
from fnf.store.airtable import schema as sc
from fnf.store.airtable.http import PacedApi, RecordGoneError, every, first
from fnf.store.airtable.records import Rec, Records
from fnf.store.base import Acquired, Busy, LeaseJudge, RunFinish, RunProgress, taken_over_note

log = logging.getLogger("fnf.airtable")

ACQUIRE_ATTEMPTS = 10
SETTLE_LOOKS = 3
CLAIM_SETTLE_SECONDS = 10.0
"""A claim younger than this may still be withdrawn by its run (compared across hosts, so generous)."""
HEARTBEAT_BUDGET_SECONDS = 5.0


class Claims:
    def __init__(
        self,
        api: PacedApi,
        table: Any,
        records: Records,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api, self.table, self.records = api, table, records
        self._sleep, self._monotonic = sleep, monotonic
        self._record_of: dict[str, str] = {}
        self._confirmed: dict[str, float] = {}
        self._stale_after: dict[str, float] = {}
        self._lost: set[str] = set()
        self._progress: dict[str, RunProgress] = {}

    def _f(self, spec: sc.FieldSpec) -> str:
        return self.records.f(spec)

    # -- taking a stream -----------------------------------------------------------------
    def acquire(
        self, run: RunRecord, job_types: Sequence[JobType], stale_after: float, is_dead: LeaseJudge
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
            self._upsert(run, " ".join(t.value for t in job_types), stale_after)
            live = self._live(run.stream, wanted)
            rivals = [held for held, _ in live if held.holder.run_id != run.run_id and not is_dead(held)]
            if not rivals:
                dead = [(held, rec) for held, rec in live if held.holder.run_id != run.run_id]
                self._abandon(dead, run.run_id)
                self._confirmed[run.run_id] = self._monotonic()
                return Acquired(tuple(held for held, _ in dead))
            self._withdraw(run, rivals[0], attempt)
        return Busy(rivals[0])

    def _withdraw(self, run: RunRecord, rival: Lease, attempt: int) -> None:
        log.info(
            "run %s and run %s claimed stream %d together; withdrawing and retrying",
            run.run_id,
            rival.holder.run_id,
            run.stream,
        )
        self.table.delete(self._record_of.pop(run.run_id))
        self._sleep(random.uniform(0.1, 0.6) * (attempt + 1))

    def _still_recorded(self, seen: Mapping[str, Lease]) -> Lease | None:
        """The first of ``seen`` whose run record still exists (it ran and ended, not withdrew)."""
        for run_id, held in seen.items():
            if every(self.table, formula=fx.eq(self._f(sc.RUN_ID), run_id), fields=[self._f(sc.RUN_ID)]):
                return held
        return None

    def _live(self, stream: int, wanted: set[JobType]) -> list[tuple[Lease, Rec]]:
        formula = fx.all_of([fx.eq(self._f(sc.RUN_STREAM), stream), fx.not_blank(self._f(sc.LEASES))])
        out: list[tuple[Lease, Rec]] = []
        for record in every(self.table, formula=formula):
            self._remember(record)
            out.extend((held, record) for held in self.records.leases_of(record) if held.job_type in wanted)
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
                self._f(sc.RUN_MESSAGE): values.get(self._f(sc.RUN_MESSAGE)) or taken_over_note(taker),
            }
            if held.holder.run_id in self._confirmed:
                self._lost.add(held.holder.run_id)
        if changes:
            self.table.batch_update([{"id": rid, "fields": f} for rid, f in changes.items()], typecast=True)

    # -- holding it ------------------------------------------------------------------------
    def check(self, run_id: str, progress: RunProgress) -> None:
        """Before a write: raise if the run no longer holds its stream (confirmed at most half a
        stale period ago, else read back)."""
        if run_id in self._lost:
            raise _lost(run_id)
        if not self._recently_confirmed(run_id):
            record = self._record(run_id)
            if record is None or not self.records.holds(record["fields"]):
                self._lost.add(run_id)
                raise _lost(run_id)
            self._confirmed[run_id] = self._monotonic()
        self._progress[run_id] = progress

    def _recently_confirmed(self, run_id: str) -> bool:
        """No other run can have taken over a lease confirmed less than half a stale period ago."""
        confirmed = self._confirmed.get(run_id)
        return confirmed is not None and self._monotonic() - confirmed < self._stale_after.get(run_id, 0.0) / 2

    def heartbeat(self, run_id: str, now: datetime) -> bool:
        """Refresh the run's heartbeat (with its counts): one request, whose answer (the whole
        record) also says whether the run still holds its stream. A taker marks a record it takes
        over as ended, and a heartbeat never writes those fields, so it cannot revive a lease."""
        if run_id in self._lost:
            return False
        fields: dict[str, Any] = {self._f(sc.HEARTBEAT_AT): iso(now)}
        progress = self._progress.get(run_id)
        if progress is not None:  # the run's counts ride along with the heartbeat
            fields.update(self.records.progress_cells(progress))
        with self.api.budget_of(HEARTBEAT_BUDGET_SECONDS):
            record = self._beat(run_id, fields)
        if record is None or not self.records.holds(record["fields"]):
            self._lost.add(run_id)
            return False
        self._confirmed[run_id] = self._monotonic()
        return True

    def _beat(self, run_id: str, fields: dict[str, Any]) -> Rec | None:
        record_id = self._record_of.get(run_id)
        if record_id is not None:
            try:
                return dict(self.table.update(record_id, fields))
            except RecordGoneError:
                self._record_of.pop(run_id, None)
        record = self._record(run_id)  # not known here, or gone: look it up by its run id
        if record is None or not self.records.holds(record["fields"]):
            return record
        return dict(self.table.update(record["id"], fields))

    def finish(self, finish: RunFinish) -> None:
        if finish.run_id in self._lost:
            return  # abandoned meanwhile: the taker's account stands
        record_id = self._record_of.get(finish.run_id)
        if record_id is None or not self._recently_confirmed(finish.run_id):
            record = self._record(finish.run_id)
            if record is None:
                return
            recorded = record["fields"].get(self._f(sc.OUTCOME))
            if recorded and recorded != finish.outcome.value:
                return
            record_id = record["id"]
        self.table.update(record_id, self.records.finish_cells(finish), typecast=True)  # an outcome new to the base
        self._progress.pop(finish.run_id, None)
        self._confirmed.pop(finish.run_id, None)

    def record_run(self, run: RunRecord) -> None:
        self._upsert(run, None, None)

    def _upsert(self, run: RunRecord, leases: str | None, stale_after: float | None) -> None:
        fields = self.records.run_cells(run)
        fields[self._f(sc.LEASES)] = leases
        fields[self._f(sc.STALE_AFTER)] = stale_after
        upsert = self.table.batch_upsert([{"fields": fields}], key_fields=[self._f(sc.RUN_ID)], typecast=True)
        (record,) = upsert["records"]
        self._record_of[run.run_id] = record["id"]

    def _record(self, run_id: str) -> Rec | None:
        record_id = self._record_of.get(run_id)
        if record_id is not None:
            try:
                return dict(self.table.get(record_id))
            except RecordGoneError:
                self._record_of.pop(run_id, None)
        found = first(self.table, formula=fx.eq(self._f(sc.RUN_ID), run_id))
        if found is not None:
            self._record_of[run_id] = found["id"]
        return found

    def _remember(self, record: Rec) -> None:
        run_id = str(record["fields"].get(self._f(sc.RUN_ID)) or "")
        self._record_of.setdefault(run_id, record["id"])

    # -- reading the history ---------------------------------------------------------------
    def runs(self, limit: int, run_type: str | None, stream: int | None) -> list[RunRecord]:
        parts = []
        if run_type is not None:
            parts.append(fx.eq(self._f(sc.RUN_TYPE), run_type))
        if stream is not None:
            parts.append(fx.eq(self._f(sc.RUN_STREAM), stream))
        found = every(
            self.table,
            formula=fx.all_of(parts) if parts else None,
            sort=["-" + self._f(sc.STARTED_AT)],
            max_records=limit,
            page_size=min(100, max(1, limit)),
        )
        for record in found:
            self._remember(record)
        return [self.records.run(record) for record in found]

    def prune(self, before: datetime) -> int:
        ended = self._f(sc.ENDED_AT)
        formula = fx.all_of(
            [
                fx.not_blank(ended),
                f"IS_BEFORE({fx.field(ended)},{fx.quoted(iso(before) or '')})",
                fx.blank(self._f(sc.LEASES)),
            ]
        )
        found = every(self.table, formula=formula, fields=[self._f(sc.RUN_ID)])
        self.table.batch_delete([r["id"] for r in found])
        return len(found)

    def leases(self) -> list[Lease]:
        found = every(self.table, formula=fx.not_blank(self._f(sc.LEASES)))
        for record in found:
            self._remember(record)
        held = [lease for record in found for lease in self.records.leases_of(record)]
        return sorted(held, key=lambda lease: (lease.job_type.value, lease.stream))


def _settling(held: Lease, run: RunRecord) -> bool:
    return abs((run.started_at - held.acquired_at).total_seconds()) < CLAIM_SETTLE_SECONDS


def _lost(run_id: str) -> LeaseLostError:
    return LeaseLostError(f"run {run_id} no longer holds its stream (another run took over); stopping without writing")
