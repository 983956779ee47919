"""The Store contract: every backend passes exactly these tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fnf.errors import LeaseLostError
from fnf.models import Client, Holder, JobState, JobType, Outcome, RunCounts, RunRecord, StateUpdate, Status
from fnf.store.base import Acquired, Busy, RunFinish, RunProgress, Store
from fnf.testing import FakeClock

LEAD, HARVEST = JobType.LEAD_SCORING, JobType.POST_HARVESTING


def run_record(clock: FakeClock, run_id: str, stream: int = 1, run_type: str = "lead_scoring") -> RunRecord:
    holder = Holder(run_id, "host-a", 100, "boot|pid:[1]", "5")
    return RunRecord(run_id, run_type, stream, f"job_lead_stream{stream}_x", holder, clock.now(), clock.now())


def never_dead(lease: object) -> bool:
    return False


def always_dead(lease: object) -> bool:
    return True


def started(store: Store, clock: FakeClock, run_id: str = "r1", types: tuple[JobType, ...] = (LEAD,)) -> RunRecord:
    record = run_record(clock, run_id)
    assert isinstance(store.acquire(record, types, 180, never_dead), Acquired)
    return record


def st(status: Status, clock: FakeClock, run_id: str = "r1", sweep: str = "s1") -> JobState:
    return JobState(status, "job_lead_stream1_x", run_id, sweep, clock.now(), 1.5, 7, "note")


# -- clients ---------------------------------------------------------------------------------
def test_import_adds_updates_and_keeps_order(store: Store) -> None:
    report = store.import_clients([Client("b", "B", 1), Client("a", "A", 2, {"plan": "pro"})])
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    report = store.import_clients([Client("a", "A", 2, {"plan": "pro"}), Client("b", "B2", 3), Client("c", "C", 1)])
    assert (report.added, report.updated, report.unchanged) == (1, 1, 1)
    assert [(c.id, c.name, c.stream) for c in store.list_clients()] == [("b", "B2", 3), ("a", "A", 2), ("c", "C", 1)]
    assert store.list_clients()[1].fields == {"plan": "pro"}


def test_list_by_stream(store: Store) -> None:
    store.import_clients([Client(f"c{i}", f"C{i}", i % 3 + 1) for i in range(9)] + [Client("u", "U", None)])
    assert [c.id for c in store.list_clients(2)] == ["c1", "c4", "c7"]
    assert len(store.list_clients()) == 10


def test_untrusted_text_round_trips(store: Store) -> None:
    weird = Client("x'); DROP TABLE clients;--", 'O\'Brien "Jr" {braces} $(reboot)', 1, {"k": "v; rm -rf ~"})
    store.import_clients([weird])
    assert store.list_clients() == [weird]


def test_remove_clients_drops_their_states(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1), Client("b", "B", 1)])
    record = started(store, clock)
    store.save([StateUpdate("a", LEAD, st(Status.COMPLETED, clock))], RunProgress(record.run_id, RunCounts(1)))
    assert store.remove_clients(["a", "nope"]) == 1
    assert [c.id for c in store.list_clients()] == ["b"]
    assert store.job_states(LEAD) == {}


# -- states ----------------------------------------------------------------------------------
def test_save_writes_states_and_run_progress_together(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1), Client("b", "B", 1)])
    record = started(store, clock)
    store.save(
        [StateUpdate("a", LEAD, st(Status.COMPLETED, clock)), StateUpdate("b", LEAD, st(Status.STARTED, clock))],
        RunProgress(record.run_id, RunCounts(completed=1, remaining=1), None),
    )
    store.heartbeat(record.run_id, clock.now())  # progress is written by then at the latest
    states = store.job_states(LEAD)
    assert states["a"] == st(Status.COMPLETED, clock)
    assert states["b"].status is Status.STARTED
    assert store.job_states(HARVEST) == {}
    run = store.runs()[0]
    assert run.counts == RunCounts(completed=1, remaining=1)


def test_save_ignores_a_client_removed_meanwhile(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1)])
    record = started(store, clock)
    store.save([StateUpdate("gone", LEAD, st(Status.COMPLETED, clock))], RunProgress(record.run_id, RunCounts()))
    assert store.job_states(LEAD) == {}


def test_save_after_losing_the_lease_writes_nothing(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1)])
    old = started(store, clock, "old")
    newer = run_record(clock, "new")
    assert isinstance(store.acquire(newer, (LEAD,), 180, always_dead), Acquired)
    with pytest.raises(LeaseLostError):
        store.save([StateUpdate("a", LEAD, st(Status.COMPLETED, clock, "old"))], RunProgress(old.run_id, RunCounts(1)))
    assert store.job_states(LEAD) == {}


# -- sweeps ----------------------------------------------------------------------------------
def test_sweeps_open_close_and_number(store: Store) -> None:
    clock = FakeClock()
    assert store.open_sweep(LEAD, 1) is None
    first = store.start_sweep(LEAD, 1, "r1", clock.now())
    assert first.number == 1
    assert store.open_sweep(LEAD, 1) == first
    assert store.open_sweep(LEAD, 2) is None
    assert store.open_sweep(HARVEST, 1) is None
    store.close_sweep(first.id, clock.now(), "finished")
    assert store.open_sweep(LEAD, 1) is None
    second = store.start_sweep(LEAD, 1, "r2", clock.now())
    third = store.start_sweep(LEAD, 1, "r3", clock.now())  # supersedes the second
    assert (second.number, third.number) == (2, 3)
    assert store.open_sweep(LEAD, 1) == third


# -- leases and runs -------------------------------------------------------------------------
def test_acquire_free_stream_records_the_run(store: Store) -> None:
    clock = FakeClock()
    record = started(store, clock)
    assert store.runs()[0].run_id == record.run_id
    assert store.runs()[0].outcome is None
    (held,) = store.leases()
    assert (held.job_type, held.stream, held.holder.run_id) == (LEAD, 1, "r1")
    assert held.holder == record.holder


def test_busy_stream_changes_nothing(store: Store) -> None:
    clock = FakeClock()
    started(store, clock, "r1")
    result = store.acquire(run_record(clock, "r2"), (LEAD,), 180, never_dead)
    assert isinstance(result, Busy)
    assert result.lease.holder.run_id == "r1"
    assert [r.run_id for r in store.runs()] == ["r1"]


def test_acquire_is_all_or_nothing_across_types(store: Store) -> None:
    clock = FakeClock()
    started(store, clock, "r1", (HARVEST,))
    result = store.acquire(run_record(clock, "r2", run_type="all"), tuple(JobType), 180, never_dead)
    assert isinstance(result, Busy)
    assert {(held.job_type, held.holder.run_id) for held in store.leases()} == {(HARVEST, "r1")}


def test_other_streams_are_independent(store: Store) -> None:
    clock = FakeClock()
    started(store, clock, "r1")
    assert isinstance(store.acquire(run_record(clock, "r2", stream=2), (LEAD,), 180, never_dead), Acquired)


def test_dead_holder_is_taken_over_and_recorded_abandoned(store: Store) -> None:
    clock = FakeClock()
    started(store, clock, "r1")
    clock.advance(10)
    store.heartbeat("r1", clock.now())
    clock.advance(500)
    result = store.acquire(run_record(clock, "r2"), (LEAD,), 180, always_dead)
    assert isinstance(result, Acquired)
    assert [held.holder.run_id for held in result.taken_over] == ["r1"]
    old = next(r for r in store.runs() if r.run_id == "r1")
    assert old.outcome is Outcome.ABANDONED
    assert old.ended_at == old.heartbeat_at
    assert store.leases()[0].holder.run_id == "r2"
    assert store.heartbeat("r1", clock.now()) is False
    assert store.heartbeat("r2", clock.now()) is True


def test_heartbeat_moves_lease_and_run(store: Store) -> None:
    clock = FakeClock()
    started(store, clock)
    clock.advance(60)
    assert store.heartbeat("r1", clock.now())
    assert store.leases()[0].heartbeat_at == clock.now()
    assert store.runs()[0].heartbeat_at == clock.now()


def test_finish_releases_and_records(store: Store) -> None:
    clock = FakeClock()
    started(store, clock)
    clock.advance(5)
    store.finish_run(RunFinish("r1", Outcome.STOPPED_AT_DEADLINE, clock.now(), RunCounts(3, 1, 1, 4), "c9", "msg"))
    assert store.leases() == []
    run = store.runs()[0]
    assert (run.outcome, run.counts, run.stopped_at, run.message) == (
        Outcome.STOPPED_AT_DEADLINE,
        RunCounts(3, 1, 1, 4),
        "c9",
        "msg",
    )
    assert run.ended_at == clock.now()


def test_finish_does_not_overwrite_abandoned(store: Store) -> None:
    clock = FakeClock()
    started(store, clock, "r1")
    store.acquire(run_record(clock, "r2"), (LEAD,), 180, always_dead)
    store.finish_run(RunFinish("r1", Outcome.COMPLETED, clock.now()))
    assert next(r for r in store.runs() if r.run_id == "r1").outcome is Outcome.ABANDONED
    assert store.leases()[0].holder.run_id == "r2"


def test_record_run_and_filters(store: Store) -> None:
    clock = FakeClock()
    for index, (run_type, stream) in enumerate([("lead_scoring", 1), ("post_scoring", 1), ("lead_scoring", 2)]):
        clock.advance(1)
        record = replace(run_record(clock, f"r{index}", stream, run_type), ended_at=clock.now(), outcome=Outcome.BUSY)
        store.record_run(record)
    assert [r.run_id for r in store.runs()] == ["r2", "r1", "r0"]
    assert [r.run_id for r in store.runs(run_type="lead_scoring")] == ["r2", "r0"]
    assert [r.run_id for r in store.runs(stream=1)] == ["r1", "r0"]
    assert [r.run_id for r in store.runs(limit=1)] == ["r2"]
    assert store.runs()[0].outcome is Outcome.BUSY
    assert store.runs()[0].started_at == clock.now() - timedelta(0)


def test_job_states_filtered_by_stream(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1), Client("b", "B", 2)])
    record = started(store, clock)
    updates = [StateUpdate(c, LEAD, st(Status.COMPLETED, clock)) for c in ("a", "b")]
    store.save(updates, RunProgress(record.run_id, RunCounts(2)))
    assert set(store.job_states(LEAD, 1)) == {"a"}
    assert set(store.job_states(LEAD, 2)) == {"b"}
    assert set(store.job_states(LEAD)) == {"a", "b"}


@pytest.mark.parametrize(
    "client_id",
    ['O\'Brien "Jr"', "{braces}} and {", "back\\slash\\", "日本語のクライアント", "Ωμέγα', OR(1=1), '", "tab\there"],
)
def test_awkward_ids_and_names_are_found_exactly(store: Store, client_id: str) -> None:
    clock = FakeClock()
    decoy = client_id[:-1] or "x"
    store.import_clients([Client(decoy, "decoy", 1), Client(client_id, client_id + " ünïcødé", 1)])
    record = started(store, clock)
    store.save([StateUpdate(client_id, LEAD, st(Status.FAILED, clock))], RunProgress(record.run_id, RunCounts()))
    assert set(store.job_states(LEAD, 1)) == {client_id}
    assert [c.name for c in store.list_clients(1)] == ["decoy", client_id + " ünïcødé"]
    assert store.remove_clients([client_id]) == 1
    assert [c.id for c in store.list_clients()] == [decoy]


def test_streaks_quarantine_and_alerts_round_trip_and_operators_can_write_without_a_run(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1)])
    record = started(store, clock)
    state = replace(
        st(Status.CLIENT_TIMEOUT_KILLED, clock),
        timeouts_in_row=3,
        quarantined_at=clock.now(),
        alert_kind="client_quarantined",
        alert_at=clock.now(),
    )
    store.save([StateUpdate("a", LEAD, state)], RunProgress(record.run_id, RunCounts(timed_out=1)))
    assert store.job_states(LEAD)["a"] == state
    store.finish_run(
        RunFinish(record.run_id, Outcome.COMPLETED, clock.now(), alerts="client_quarantined (1 sent at once)")
    )
    assert store.runs()[0].alerts == "client_quarantined (1 sent at once)"
    released = replace(state, quarantined_at=None, timeouts_in_row=0, message="released")
    store.put_states([StateUpdate("a", LEAD, released), StateUpdate("gone", LEAD, released)])
    assert store.job_states(LEAD) == {"a": released}


def test_prune_deletes_old_ended_runs_only(store: Store) -> None:
    clock = FakeClock()
    old = replace(run_record(clock, "old"), ended_at=clock.now(), outcome=Outcome.COMPLETED)
    store.record_run(old)
    live = started(store, clock, "live")  # started long ago, still holding its stream
    clock.advance(40 * 86400)
    recent = replace(run_record(clock, "recent", stream=2), ended_at=clock.now(), outcome=Outcome.BUSY)
    store.record_run(recent)
    assert store.prune_runs(clock.now() - timedelta(days=30)) == 1
    assert {r.run_id for r in store.runs()} == {"live", "recent"}
    assert store.prune_runs(clock.now() - timedelta(days=30)) == 0
    assert live.run_id in {lease.holder.run_id for lease in store.leases()}


def test_a_start_is_refused_for_a_client_that_left_the_stream_or_runs_elsewhere(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1), Client("b", "B", 1), Client("gone", "G", 1)])
    one = started(store, clock, "r1")
    store.import_clients([Client("b", "B", 2)])  # an operator moves b to stream 2 mid-run
    store.remove_clients(["gone"])
    starts = [StateUpdate(cid, LEAD, st(Status.STARTED, clock)) for cid in ("a", "b")]
    progress = RunProgress("r1", RunCounts(), stream=1)
    assert store.save(starts, progress) == {"b"}
    assert store.save([StateUpdate("gone", LEAD, st(Status.STARTED, clock))], progress) == {"gone"}
    assert set(store.job_states(LEAD)) == {"a"}, "nothing written for a refused start"
    assert one.run_id == "r1"
    two = store.acquire(run_record(clock, "r2", stream=2), [LEAD], 60.0, never_dead)
    assert isinstance(two, Acquired)
    refused = store.save(
        [StateUpdate("a", LEAD, st(Status.STARTED, clock, "r2"))], RunProgress("r2", RunCounts(), stream=2)
    )
    assert refused == {"a"}, "a is in stream 1 (and in flight in r1)"
    assert (
        store.save([StateUpdate("b", LEAD, st(Status.STARTED, clock, "r2"))], RunProgress("r2", RunCounts(), stream=2))
        == frozenset()
    )


def test_run_states_select_as_job_states_and_read_each_full_state_as_it_is(store: Store) -> None:
    clock = FakeClock()
    store.import_clients([Client("a", "A", 1), Client("b", "B", 1), Client("c", "C", 1), Client("d", "D", 2)])
    record = started(store, clock)
    held = replace(st(Status.FAILED, clock), quarantined_at=clock.now(), recent_seconds=(1.0, 2.5))
    states = {"a": st(Status.COMPLETED, clock), "b": held, "d": st(Status.RUNNING, clock, sweep="s2")}
    store.save([StateUpdate(c, LEAD, s) for c, s in states.items()], RunProgress(record.run_id, RunCounts(2)))
    expected = store.job_states(LEAD, 1)
    read = store.run_states(LEAD, 1)
    assert set(read.marks) == set(expected) == {"a", "b"}
    for client_id, state in expected.items():
        mark = read.marks[client_id]
        assert (mark.status, mark.run_id, mark.sweep_id, mark.quarantined_at) == (
            state.status,
            state.run_id,
            state.sweep_id,
            state.quarantined_at,
        )
        assert read.full.get(client_id) == state
    assert read.full.get("c") is None and read.full.get("d") is None, "no state, or another stream's"
    written = st(Status.STARTED, clock, run_id="r2")
    read.full["c"] = written
    assert read.full.get("c") == written, "what the run writes is kept"


def test_a_stream_read_with_its_states_is_the_listing_and_each_job_types_states(store: Store) -> None:
    clock = FakeClock()
    store.import_clients(
        [Client("a", "A", 1, {"k": "v"}), Client("b", "B", 1), Client("c", "C", 1), Client("d", "D", 2)]
    )
    record = started(store, clock, types=(LEAD, HARVEST))
    held = replace(st(Status.FAILED, clock), quarantined_at=clock.now(), recent_seconds=(1.0, 2.5))
    writes = [
        StateUpdate("a", LEAD, st(Status.COMPLETED, clock)),
        StateUpdate("b", LEAD, held),
        StateUpdate("b", HARVEST, st(Status.RUNNING, clock)),
        StateUpdate("d", LEAD, st(Status.COMPLETED, clock)),
    ]
    store.save(writes, RunProgress(record.run_id, RunCounts(2)))
    read = store.read_stream(1, (LEAD, HARVEST))
    assert read.clients == store.list_clients(1)
    assert set(read.states) == {LEAD, HARVEST}
    for job_type in (LEAD, HARVEST):
        expected = store.job_states(job_type, 1)
        assert set(read.states[job_type].marks) == set(expected)
        assert {cid: read.states[job_type].full.get(cid) for cid in expected} == expected
    assert set(read.states[LEAD].marks) == {"a", "b"} and set(read.states[HARVEST].marks) == {"b"}
