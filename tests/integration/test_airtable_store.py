"""The Airtable store against the loopback emulator: pacing, retries, leases, schema, secrets."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from airtable_helpers import TOKEN, airtable_settings, new_base, ready_store

from fnf.errors import LeaseLostError, StoreError, StoreUnavailableError
from fnf.models import Client, Holder, JobState, JobType, Outcome, RunCounts, RunRecord, StateUpdate, Status
from fnf.store.airtable import AirtableStore
from fnf.store.base import Acquired, Busy, RunFinish, RunProgress
from fnf.testing import FakeClock
from fnf.testing.airtable_emulator import Emulator, Record

LEAD = JobType.LEAD_SCORING


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A private emulator, so its counters and faults belong to one test."""
    with Emulator(TOKEN, penalty=30.0) as running:
        yield running


def record(clock: FakeClock, run_id: str, stream: int = 1) -> RunRecord:
    holder = Holder(run_id, "host-a", 100, "boot|pid:[1]", "5")
    return RunRecord(run_id, "lead_scoring", stream, "job_lead_stream1_x", holder, clock.now(), clock.now())


def state(clock: FakeClock, status: Status = Status.COMPLETED, run_id: str = "r1") -> JobState:
    return JobState(status, "job_lead_stream1_x", run_id, "s1", clock.now(), 0.5, 3)


def test_pacing_keeps_a_busy_store_under_airtables_limit(emu: Emulator) -> None:
    base = new_base(emu)  # Airtable's own limit: 5 requests/s, then a 30 s penalty
    store = AirtableStore(airtable_settings(emu, base, requests_per_second=5.0))
    store.apply_schema()
    store.import_clients([Client(f"c{i}", f"C{i}", 1) for i in range(5)])
    for _ in range(12):
        assert len(store.list_clients(1)) == 5
    assert emu.stats.requests >= 15
    assert emu.stats.rate_limited == 0
    assert store.api.rate_limited == 0


def test_429s_are_waited_out_and_5xx_and_dropped_connections_retried(emu: Emulator) -> None:
    store = ready_store(emu, retry_budget=60.0)  # a long run of bad luck must not fail the test
    store.import_clients([Client(f"c{i}", f"C{i}", 1) for i in range(20)])
    emu.set_faults(throttle_next=3)
    assert len(store.list_clients()) == 20
    assert store.api.rate_limited == 3
    emu.set_faults(error_rate=0.15, drop_rate=0.1, seed=7)
    clock = FakeClock()
    run = record(clock, "r1")
    assert isinstance(store.acquire(run, (LEAD,), 180, lambda lease: False), Acquired)
    for round_ in range(4):
        updates = [StateUpdate(f"c{i}", LEAD, state(clock)) for i in range(20)]
        store.save(updates, RunProgress("r1", RunCounts(round_)))
        store.record_run(replace(record(clock, f"busy{round_}"), outcome=None))
    emu.set_faults(error_rate=0.0, drop_rate=0.0)
    assert emu.stats.injected_5xx > 0 and emu.stats.dropped > 0
    assert len(emu.records(store.settings.base_id, "Clients")) == 20, "no client record duplicated"
    assert len(emu.records(store.settings.base_id, "Job Runs")) == 5, "no run record duplicated"
    assert {s.status for s in store.job_states(LEAD).values()} == {Status.COMPLETED}


def test_writes_go_ten_records_at_a_time(emu: Emulator) -> None:
    store = ready_store(emu)
    store.import_clients([Client(f"c{i}", f"C{i}", 1) for i in range(25)])
    clock = FakeClock()
    store.acquire(record(clock, "r1"), (LEAD,), 180, lambda lease: False)
    before = len(emu.stats.writes())
    store.save([StateUpdate(f"c{i}", LEAD, state(clock)) for i in range(25)], RunProgress("r1", RunCounts()))
    assert emu.stats.writes()[before:] == [10, 10, 5]
    assert max(emu.stats.writes()) <= 10


def test_an_outage_past_the_budget_raises_a_clear_error_without_the_token(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    store = ready_store(emu, retry_budget=1.0)
    emu.set_faults(down=True)
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailableError) as info:
        store.list_clients()
    message = str(info.value)
    assert "AIRTABLE_RETRY_BUDGET_SECONDS" in message and "503" in message
    assert TOKEN not in message and TOKEN not in caplog.text
    assert "retrying" in caplog.text


def test_a_refused_token_is_named_but_never_shown(emu: Emulator) -> None:
    base = new_base(emu, rate_limit=1000)
    store = AirtableStore(airtable_settings(emu, base, api_key="pat-wrong.very-secret"))
    with pytest.raises(StoreError) as info:
        store.list_clients()
    assert "AIRTABLE_API_KEY" in str(info.value)
    assert "very-secret" not in str(info.value)
    assert "very-secret" not in repr(store.settings)


def test_a_run_taken_over_by_another_machine_finds_out_and_writes_nothing(emu: Emulator) -> None:
    ticks = [0.0]
    # the store's notion of "recently confirmed" runs on this clock
    mine = AirtableStore(ready_store(emu).settings, monotonic=lambda: ticks[0])
    mine.import_clients([Client("a", "A", 1)])
    theirs = AirtableStore(mine.settings)
    clock = FakeClock()
    assert isinstance(mine.acquire(record(clock, "old"), (LEAD,), 180, lambda lease: False), Acquired)
    taken = theirs.acquire(record(clock, "new"), (LEAD,), 180, lambda lease: True)
    assert isinstance(taken, Acquired) and [t.holder.run_id for t in taken.taken_over] == ["old"]
    ticks[0] = 91.0  # more than half the stale period since the lease was last confirmed
    with pytest.raises(LeaseLostError):
        mine.save([StateUpdate("a", LEAD, state(clock, run_id="old"))], RunProgress("old", RunCounts(1)))
    assert mine.job_states(LEAD) == {}
    assert mine.heartbeat("old", clock.now()) is False
    mine.finish_run(RunFinish("old", Outcome.COMPLETED, clock.now()))
    assert {r.run_id: r.outcome.value if r.outcome else None for r in mine.runs()}["old"] == "abandoned"


def test_a_heartbeat_finds_a_lost_lease_at_once(emu: Emulator) -> None:
    mine = ready_store(emu)
    theirs = AirtableStore(mine.settings)
    clock = FakeClock()
    mine.acquire(record(clock, "old"), (LEAD,), 180, lambda lease: False)
    theirs.acquire(record(clock, "new"), (LEAD,), 180, lambda lease: True)
    assert mine.heartbeat("old", clock.now()) is False
    with pytest.raises(LeaseLostError):
        mine.save([], RunProgress("old", RunCounts()))


def test_a_heartbeat_is_one_request_and_its_answer_confirms_the_lease(emu: Emulator) -> None:
    """Heartbeats are most of a long run's Airtable calls: one request each, not a read and a write."""
    store = ready_store(emu)
    clock = FakeClock()
    store.acquire(record(clock, "r1"), (LEAD,), 180, lambda lease: False)
    before = len(emu.stats.log)
    for _ in range(3):
        clock.advance(60)
        assert store.heartbeat("r1", clock.now()) is True
    assert [method for method, *_ in emu.stats.log[before:]] == ["PATCH"] * 3
    assert store.leases()[0].heartbeat_at == clock.now()


def test_a_heartbeat_finds_a_run_record_deleted_under_it(emu: Emulator) -> None:
    store = ready_store(emu)
    clock = FakeClock()
    store.acquire(record(clock, "r1"), (LEAD,), 180, lambda lease: False)
    for found in emu.records(store.settings.base_id, "Job Runs"):
        emu.bases[store.settings.base_id].table("Job Runs").records.pop(found["id"])
    assert store.heartbeat("r1", clock.now()) is False


@pytest.mark.parametrize("round_", range(6))
def test_claims_made_at_the_same_instant_leave_exactly_one_holder(emu: Emulator, round_: int) -> None:
    settings = ready_store(emu).settings

    def quarter(seconds: float) -> None:  # nearer real timing: less flaky under load
        threading.Event().wait(seconds / 4)

    stores = [AirtableStore(settings, sleep=quarter) for _ in range(5)]
    clock = FakeClock()
    barrier = threading.Barrier(len(stores))
    results: dict[int, object] = {}

    def claim(index: int) -> None:
        barrier.wait()
        results[index] = stores[index].acquire(record(clock, f"r{index}"), (LEAD,), 180, lambda lease: False)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [i for i, result in results.items() if isinstance(result, Acquired)]
    assert len(results) == len(stores)
    assert len(winners) == 1, results
    assert all(isinstance(results[i], Busy) for i in results if i not in winners)
    assert [lease.holder.run_id for lease in stores[0].leases()] == [f"r{winners[0]}"]
    assert len(emu.records(settings.base_id, "Job Runs")) == 1, "the withdrawn claims are gone"


def test_records_people_typed_by_hand_are_read_safely(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    store = ready_store(emu)
    table = emu.base(store.settings.base_id).table("Clients")
    rows = [
        {"Client Name": "No id", "Processing Stream": 1},
        {"Client ID": "dup", "Client Name": "First", "Processing Stream": 1, "Sweep Order": 1},
        {"Client ID": "dup", "Client Name": "Second", "Processing Stream": 1, "Sweep Order": 2},
        {"Client ID": "paused", "Client Name": "P", "Processing Stream": 1, "Lead Scoring Job Status": "Paused"},
        {"Client ID": "json", "Client Name": "J", "Processing Stream": 1, "Client Fields": "{not json"},
        {"Client ID": "nostream", "Client Name": "N"},
    ]
    with emu.lock:
        for index, fields in enumerate(rows):
            table.records[f"rec{index:014d}"] = Record(f"rec{index:014d}", "2025-09-20T14:30:22.000Z", dict(fields))
    with caplog.at_level(logging.WARNING, logger="fnf"):
        clients = store.list_clients()
        states = store.job_states(LEAD)
    assert [(c.id, c.name, c.stream) for c in clients] == [
        ("dup", "First", 1),
        ("rec00000000000000", "No id", 1),  # a record without a Client ID is a client by its record id
        ("paused", "P", 1),
        ("json", "J", 1),
        ("nostream", "N", None),
    ]
    assert clients[3].fields == {}
    assert states == {}, "a status fnf does not write counts as not yet processed"
    assert [(u.record, u.name) for u in store.unusable()] == [
        ("rec00000000000002", "Second"),
        ("rec00000000000005", "N"),
    ]
    assert [u.record for u in store.unusable(1)] == ["rec00000000000002", "rec00000000000005"]
    assert [c.id for c in store.list_clients(1)] == ["dup", "rec00000000000000", "paused", "json"]
    for fragment in ("is also on record rec00000000000001", "Processing Stream is blank", "not a status fnf writes"):
        assert fragment in caplog.text
    assert "is not JSON" in caplog.text


def test_a_listing_whose_offset_expired_mid_way_is_read_again_whole(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    store = ready_store(emu)
    store.import_clients([Client(f"c{i:03d}", f"C{i}", 1) for i in range(250)])
    original = emu._list
    calls = {"offset": 0}

    def expiring(table, options):  # type: ignore[no-untyped-def]
        if options.get("offset"):
            calls["offset"] += 1
            if calls["offset"] == 1:  # the first follow-up page finds its iterator timed out
                emu._cursors.clear()
        return original(table, options)

    emu._list = expiring  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="fnf"):
        clients = store.list_clients(1)
    assert [c.id for c in clients] == [f"c{i:03d}" for i in range(250)], "every client, once, in order"
    assert "reading the whole listing again" in caplog.text


def test_a_base_without_a_field_added_later_still_runs_and_schema_apply_adds_it(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ready_store(emu).settings
    runs = emu.base(settings.base_id).table("Job Runs")
    runs.fields = [f for f in runs.fields if f.name != "Failure Kinds"]  # a base set up by an earlier fnf
    store = AirtableStore(settings)
    with caplog.at_level(logging.WARNING, logger="fnf.airtable"):
        store.verify()  # not a reason to stop the base's scheduled runs
    assert "'Failure Kinds'" in caplog.text and "fnf runs without it" in caplog.text
    clock = FakeClock()
    store.acquire(record(clock, "r1"), (LEAD,), 180, lambda lease: False)
    store.finish_run(RunFinish("r1", Outcome.COMPLETED, clock.now(), RunCounts(1, 2, 0, 0, 0, "auth=2")))
    assert store.runs()[0].counts.failed == 2  # written without the missing field (no 422)
    assert store.apply_schema() == ["created field 'Failure Kinds' (singleLineText) in table 'Job Runs'"]
    again = AirtableStore(settings)
    again.verify()
    again.acquire(record(clock, "r2"), (LEAD,), 180, lambda lease: True)
    again.finish_run(RunFinish("r2", Outcome.COMPLETED, clock.now(), RunCounts(0, 1, 0, 0, 0, "data=1")))
    assert {r.run_id: r.counts.failure_kinds for r in again.runs()} == {"r1": "", "r2": "data=1"}
