"""``--concurrency K`` on the fake clock: K clients at once, each with its own deadline, and the
same order, resume and deadline semantics as one at a time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fnf.config import load_settings
from fnf.errors import ConfigError
from fnf.models import Client, JobType, Outcome, Status
from fnf.proc.signals import StopFlag
from fnf.testing import FakeClock, MemoryStore, Script, ScriptedExecutor
from tests.unit.test_runner import ALL10, LEAD, World, settings


def world_with(k: int, **kw: float) -> World:
    store = MemoryStore()
    store.import_clients([Client(f"c{i}", f"Client {i}", 1) for i in range(10)])
    clock = FakeClock()
    config = replace(settings(**kw), concurrency=k)
    return World(store, clock, ScriptedExecutor(clock, default=Script(seconds=10)), StopFlag(), config)


def elapsed(world: World, report_started: float) -> float:
    return world.clock.monotonic() - report_started


def test_four_at_once_take_a_quarter_of_the_time_and_never_more_than_four() -> None:
    one, four = world_with(1), world_with(4)
    t1, t4 = one.clock.monotonic(), four.clock.monotonic()
    assert one.run().outcome is Outcome.COMPLETED
    assert four.run().outcome is Outcome.COMPLETED
    assert elapsed(one, t1) == pytest.approx(100)  # 10 clients x 10 s
    assert elapsed(four, t4) == pytest.approx(30)  # 4 + 4 + 2 clients, 10 s per wave
    assert four.executor.most_at_once == 4
    assert four.processed() == ALL10  # started in the stream's order
    starts = [at - t4 for _, _, at in four.executor.starts]
    assert starts == pytest.approx([0, 0, 0, 0, 10, 10, 10, 10, 20, 20])
    assert {four.status(c) for c in ALL10} == {Status.COMPLETED}


def test_a_free_slot_is_filled_at_once_not_when_the_whole_wave_ends() -> None:
    world = world_with(2)
    world.executor.scripts = {"c0": Script(seconds=50)}
    t0 = world.clock.monotonic()
    world.run()
    starts = {cid: at - t0 for cid, _, at in world.executor.starts}
    # c0 holds one slot for 50 s; the other slot runs c1..c5 one after another meanwhile.
    assert starts["c1"] == 0 and starts["c2"] == 10 and starts["c5"] == 40
    assert starts["c6"] == 50 and starts["c7"] == 50


def test_each_client_has_its_own_deadline_and_a_hung_one_holds_only_its_slot() -> None:
    world = world_with(3, client_minutes=1)
    world.executor.scripts = {"c1": Script(seconds=500, ignores_term=True)}
    t0 = world.clock.monotonic()
    report = world.run()
    assert report.outcome is Outcome.COMPLETED
    state = world.store.job_states(LEAD)["c1"]
    assert state.status is Status.CLIENT_TIMEOUT_KILLED
    assert state.last_run_seconds == pytest.approx(70)  # 60 s limit + 10 s grace, not delayed by the others
    assert "SIGKILL" in (state.message or "")
    assert report.counts.completed == 9 and report.counts.timed_out == 1
    # The other two slots kept working: 9 clients x 10 s over 2 slots, then c1's end at 70 s.
    assert elapsed(world, t0) == pytest.approx(70)


def test_at_the_job_deadline_every_client_in_flight_is_cut_short_and_resumed_first() -> None:
    world = world_with(4, job_seconds=25)
    report = world.run()
    assert report.outcome is Outcome.STOPPED_AT_DEADLINE
    cut = [c for c in ALL10 if world.status(c) is Status.JOB_TIMEOUT_KILLED]
    assert cut == ["c8", "c9"]  # the third wave was in flight at 25 s
    assert report.stopped_at == "c8"
    assert report.counts.completed == 8 and report.counts.remaining == 2
    for client in cut:
        assert "job deadline" in (world.store.job_states(LEAD)[client].message or "")
    world.processed()
    world.config = replace(world.config, job_timeout=3600)
    assert world.run().outcome is Outcome.COMPLETED
    assert world.processed() == ["c8", "c9"]


def test_the_deadline_cuts_short_all_four_and_the_next_run_takes_them_first_in_order() -> None:
    world = world_with(4, job_seconds=12)
    world.executor.scripts = {"c0": Script(seconds=5), "c1": Script(seconds=5)}
    report = world.run()  # c4, c5 start at 5 s, c6, c7 at 10 s: all four are in flight at 12 s
    assert report.outcome is Outcome.STOPPED_AT_DEADLINE
    cut = [c for c in ALL10 if world.status(c) is Status.JOB_TIMEOUT_KILLED]
    assert cut == ["c4", "c5", "c6", "c7"]
    assert report.stopped_at == "c4"
    assert report.counts.remaining == 6  # 4 cut short + 2 never started
    assert world.plan() == ["c4", "c5", "c6", "c7", "c8", "c9"]


def test_a_signal_stops_every_client_in_flight_and_the_next_run_resumes_them() -> None:
    world = world_with(4)
    world.executor.scripts = {"c5": Script(on_start=lambda: world.stop.request("SIGTERM", 15))}
    report = world.run()  # c4 to c7 are recorded STARTED in one write; the signal comes as c5 starts
    assert report.outcome is Outcome.INTERRUPTED
    started = [client for client, _ in world.executor.started]
    assert started[-2:] == ["c4", "c5"], "no work starts after the signal"
    cut = [c for c in ALL10 if world.status(c) is Status.JOB_TIMEOUT_KILLED]
    assert cut == ["c4", "c5", "c6", "c7"], "the batch's unstarted clients are recorded cut short"
    assert "not started" in (world.store.job_states(LEAD)["c6"].message or "")
    assert world.status("c8") is None
    assert all("SIGTERM" in (world.store.job_states(LEAD)[c].message or "") for c in cut)
    assert report.stopped_at == "c4" and report.counts.remaining == 6
    assert world.store.leases() == []
    world.processed()
    world.executor.scripts = {}
    world.run()
    assert world.processed() == ["c4", "c5", "c6", "c7", "c8", "c9"]


def test_a_second_signal_kills_at_once_without_waiting_for_the_grace() -> None:
    world = world_with(3)
    stubborn = Script(seconds=500, ignores_term=True)

    def twice() -> None:
        world.stop.request("SIGTERM", 15)
        world.stop.request("SIGTERM", 15)

    world.executor.scripts = {"c0": stubborn, "c1": stubborn, "c2": replace(stubborn, on_start=twice)}
    t0 = world.clock.monotonic()
    report = world.run()
    assert report.outcome is Outcome.INTERRUPTED
    assert elapsed(world, t0) == pytest.approx(0)
    assert [world.status(c) for c in ("c0", "c1", "c2")] == [Status.JOB_TIMEOUT_KILLED] * 3


def test_clients_in_flight_are_shown_running_in_one_write_per_heartbeat() -> None:
    world = world_with(4, client_minutes=5, heartbeat_minutes=1)
    world.executor.default = Script(seconds=90, progress={"done": 3, "total": 9})
    store = world.store
    assert isinstance(store, MemoryStore)
    seen: list[list[Status]] = []
    original = store.save

    def spy(updates, progress):  # type: ignore[no-untyped-def]
        seen.append([u.state.status for u in updates])
        return original(updates, progress)

    store.save = spy  # type: ignore[method-assign]
    world.run()
    running_writes = [s for s in seen if Status.RUNNING in s]
    assert running_writes[0] == [Status.RUNNING] * 4
    assert {world.status(c) for c in ALL10} == {Status.COMPLETED}


def test_all_types_of_one_client_run_in_order_in_one_slot() -> None:
    world = world_with(2)
    world.run("all")
    by_client: dict[str, list[JobType]] = {}
    for cid, job_type, _ in world.executor.starts:
        by_client.setdefault(cid, []).append(job_type)
    assert all(types == list(JobType) for types in by_client.values())
    starts = {(cid, jt): at for cid, jt, at in world.executor.starts}
    c0 = [starts[("c0", t)] for t in JobType]
    assert c0 == sorted(c0) and len(set(c0)) == 3  # one after another, never side by side
    assert world.executor.most_at_once == 2


def test_admission_stops_starting_clients_but_lets_the_ones_in_flight_finish() -> None:
    world = world_with(2)
    world.executor.scripts = {"c2": Script(seconds=40)}
    world.run()  # a first sweep gives every client a history: c2 takes 40 s, the others 10 s
    world.processed()
    world.executor.scripts = {"c1": Script(seconds=20), "c2": Script(seconds=40)}
    world.config = replace(world.config, job_timeout=45)
    report = world.run(new_sweep=True, admit_by_history=True)
    # 0 s: c0 and c1 start. 10 s: c0 ends; c2's 40 s cannot fit in the 35 s left, so nothing more
    # starts; c1 is not cut short for it and completes at 20 s.
    assert report.outcome is Outcome.STOPPED_AT_DEADLINE
    assert world.processed() == ["c0", "c1"]
    assert world.status("c1") is Status.COMPLETED
    assert report.stopped_at == "c2" and "does not fit" in (report.message or "")


@pytest.mark.parametrize("value", ["0", "-2", "four", "2.5", "65", ""])
def test_a_bad_concurrency_is_refused_naming_the_value_and_the_range(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"FNF_CONCURRENCY": value})
    text = str(caught.value)
    assert f"FNF_CONCURRENCY={value!r}" in text and "from 1 to 64" in text


def test_the_flag_overrides_the_environment_and_is_named_in_its_error() -> None:
    from fnf.config import Overrides

    assert load_settings(Overrides(concurrency="4"), environ={"FNF_CONCURRENCY": "2"}).concurrency == 4
    assert load_settings(environ={"FNF_CONCURRENCY": " 3 "}).concurrency == 3
    assert load_settings(environ={}).concurrency == 1
    with pytest.raises(ConfigError, match="--concurrency 'x'"):
        load_settings(Overrides(concurrency="x"), environ={})


def test_a_long_run_reports_every_problem_but_counts_plain_completions_past_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fnf.run import ledger

    monkeypatch.setattr(ledger, "REPORTED_COMPLETIONS", 3)
    world = world_with(2)
    world.executor.scripts = {"c7": Script(error="boom"), "c9": Script(error="bang")}
    report = world.run()
    assert report.counts.completed == 8 and report.counts.failed == 2
    assert [c.client_id for c in report.clients if c.status is Status.COMPLETED] == ["c0", "c1", "c2"]
    assert sorted(c.client_id for c in report.clients if c.status is Status.FAILED) == ["c7", "c9"]
    assert report.omitted == 5
