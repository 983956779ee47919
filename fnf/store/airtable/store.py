"""The Airtable store: the production system of record, shared by streams on many machines.

Layout (names configurable, see ``schema``): the operators' **Clients** table carries each
client's id, name, stream, sweep order and, per job type, the status fields operators already
read (``Lead Scoring Job Status`` ...) plus the run and sweep ids fnf resumes by; **Job Runs**
holds one record per run and the live leases (``claims``); **Sweeps** one record per sweep.

Airtable has no transactions: every record fnf creates is written by upsert on a unique key
(Run ID, Sweep ID, Client ID), so a retried write never duplicates it; the run's lease is
decided by claim-and-check (``claims``); the states of several clients go in one request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fnf.config import AirtableSettings
from fnf.models import Client, JobState, JobType, Lease, RunRecord, StateUpdate, Sweep
from fnf.stop import StopFlag
from fnf.store.airtable import schema as sc
from fnf.store.airtable.claims import Claims
from fnf.store.airtable.clients import ClientTable
from fnf.store.airtable.http import PacedApi
from fnf.store.airtable.records import OnceLog, Records
from fnf.store.airtable.setup import BaseSetup
from fnf.store.airtable.sweeps import SweepTable
from fnf.store.base import (
    Acquired,
    Busy,
    ImportReport,
    LeaseJudge,
    RunFinish,
    RunProgress,
    RunStates,
    Store,
    StreamRead,
    Unusable,
)


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
        absent: set[str] = set()
        records = Records(self.layout, OnceLog(), absent)
        self.setup = BaseSetup(self.api, settings.base_id, self.layout, absent)
        self.clients = ClientTable(self._table(settings.clients_table), records, self.setup)
        self.claims = Claims(self.api, self._table(settings.runs_table), records, sleep=sleep, monotonic=monotonic)
        self.sweeps = SweepTable(self._table(settings.sweeps_table), records)

    def _table(self, name: str) -> Any:
        # pyairtable's TypedDicts are narrower than the values fnf writes; the tables are untyped here
        return self.api.table(self.settings.base_id, name)

    def close(self) -> None:
        self.api.session.close()

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        with self.api.budget_of(seconds):
            yield

    def now(self, local: datetime) -> datetime:
        return self.api.clock.now() or local

    def write_delay(self) -> float:
        return self.api.pacer.delay()

    # -- the base's layout -----------------------------------------------------------------
    def verify(self) -> None:
        """Refuse to start against a base that lacks what fnf writes, before touching anything."""
        self.setup.verify()

    def schema_problems(self) -> list[sc.Problem]:
        return self.setup.problems()

    def layout_problems(self) -> list[str]:
        return [str(problem) for problem in self.setup.problems()]

    def apply_schema(self) -> list[str]:
        """Create the tables, fields and select options the base lacks; return what was done.
        Never deletes or retypes anything, and does nothing the second time."""
        return self.setup.apply()

    # -- clients and their states --------------------------------------------------------
    def list_clients(self, stream: int | None = None) -> list[Client]:
        return [client for _, client in self.clients.listed(stream)]

    def unusable(self, stream: int | None = None) -> list[Unusable]:
        return self.clients.unusable(stream)

    def import_clients(self, clients: Sequence[Client]) -> ImportReport:
        return self.clients.import_clients(clients)

    def remove_clients(self, client_ids: Sequence[str]) -> int:
        return self.clients.remove(client_ids)

    def job_states(self, job_type: JobType, stream: int | None = None) -> dict[str, JobState]:
        return self.clients.job_states(job_type, stream)

    def read_stream(self, stream: int, job_types: Sequence[JobType]) -> StreamRead:
        clients, states = self.clients.read_stream(stream, job_types)
        return StreamRead(clients, {t: RunStates(found, found) for t, found in states.items()})

    def save(self, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
        self.claims.check(progress.run_id, progress)
        return self.clients.save(updates, progress.stream)

    def put_states(self, updates: Sequence[StateUpdate]) -> None:
        self.clients.put(updates)

    # -- sweeps ----------------------------------------------------------------------------
    def open_sweep(self, job_type: JobType, stream: int) -> Sweep | None:
        return self.sweeps.open_sweep(job_type, stream)

    def start_sweep(self, job_type: JobType, stream: int, run_id: str, now: datetime) -> Sweep:
        return self.sweeps.start(job_type, stream, run_id, now)

    def close_sweep(self, sweep_id: str, now: datetime, reason: str) -> None:
        self.sweeps.close(sweep_id, now, reason)

    # -- runs and leases -------------------------------------------------------------------
    def acquire(
        self, run: RunRecord, job_types: Sequence[JobType], stale_after: float, is_dead: LeaseJudge
    ) -> Acquired | Busy:
        return self.claims.acquire(run, job_types, stale_after, is_dead)

    def heartbeat(self, run_id: str, now: datetime) -> bool:
        return self.claims.heartbeat(run_id, now)

    def finish_run(self, finish: RunFinish) -> None:
        self.claims.finish(finish)

    def record_run(self, run: RunRecord) -> None:
        self.claims.record_run(run)

    def runs(self, *, limit: int = 50, run_type: str | None = None, stream: int | None = None) -> list[RunRecord]:
        return self.claims.runs(limit, run_type, stream)

    def prune_runs(self, before: datetime) -> int:
        return self.claims.prune(before)

    def leases(self) -> list[Lease]:
        return self.claims.leases()
