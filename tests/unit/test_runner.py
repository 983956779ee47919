"""Run semantics on the fake clock: sweeps, resume, deadlines, signals, leases. No sleeping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from fnf.config import HandlerSpec, Settings, load_settings
from fnf.errors import EXIT_OK, EXIT_RUN_FAILED, EXIT_SIGINT, EXIT_SIGTERM, StoreUnavailableError, UsageError
from fnf.handlers import PythonHandler
from fnf.models import Client, Holder, JobState, JobType, Outcome, RunRecord, Status
from fnf.proc.signals import StopFlag
from fnf.run.observers import Observers, SilentObserver
from fnf.run.request import RunReport, RunRequest
from fnf.run.runner import Runner
from fnf.store.base import Store
from fnf.testing import FakeClock, MemoryStore, Script, ScriptedExecutor

LEAD = JobType.LEAD_SCORING


def settings(client_minutes: float = 1, job_seconds: float = 3600, heartbeat_minutes: float = 1) -> Settings:
    return load_settings(
        environ={
            "MAX_CLIENT_PROCESSING_MINUTES": str(client_minutes),
            "MAX_JOB_PROCESSING_HOURS": str(job_seconds / 3600),
            "HEARTBEAT_INTERVAL_MINUTES": str(heartbeat_minutes),
            "FNF_KILL_GRACE_SECONDS": "10",
        }
    )


def _handler(client: Client, ctx: object) -> int:
    return 0


HANDLERS = {t: PythonHandler(HandlerSpec(t, "python", "x:y", "X"), _handler) for t in JobType}


@dataclass
class World:
    store: Store
    clock: FakeClock
    executor: ScriptedExecutor
    stop: StopFlag
    config: Settings

    def run(self, run_type: str = "lead_scoring", stream: int = 1, **kw: object) -> RunReport:
        self.stop = StopFlag()
        runner = Runner(self.store, self.config, HANDLERS, self.executor, self.clock, self.stop)
        return runner.run(RunRequest(run_type, stream, **kw))  # type: ignore[arg-type]

    def plan(self, run_type: str = "lead_scoring", stream: int = 1, **kw: object) -> list[str]:
        runner = Runner(self.store, self.config, HANDLERS, self.executor, self.clock, StopFlag())
        return [t.client.id for t in runner.plan(RunRequest(run_type, stream, **kw))]  # type: ignore[arg-type]

    def status(self, client_id: str, job_type: JobType = LEAD) -> Status | None:
        state = self.store.job_states(job_type).get(client_id)
        return state.status if state else None

    def processed(self) -> list[str]:
        ids = [cid for cid, _ in self.executor.started]
        self.executor.started.clear()
        return ids


@pytest.fixture
def world() -> World:
    store = MemoryStore()
    store.import_clients([Client(f"c{i}", f"Client {i}", 1) for i in range(10)] + [Client("other", "O", 2)])
    clock = FakeClock()
    return World(store, clock, ScriptedExecutor(clock, default=Script(seconds=10)), StopFlag(), settings())


ALL10 = [f"c{i}" for i in range(10)]


def test_a_run_sweeps_every_client_of_its_stream_once(world: World) -> None:
    report = world.run()
    assert report.outcome is Outcome.COMPLETED
    assert report.exit_code == EXIT_OK
    assert world.processed() == ALL10
    assert all(world.status(c) is Status.COMPLETED for c in ALL10)
    assert world.status("other") is None
    assert (report.counts.completed, report.counts.remaining) == (10, 0)
    state = world.store.job_states(LEAD)["c0"]
    assert state.job_id == "job_lead_stream1_20250920_143022"
    assert state.last_run_seconds == 10
    assert world.store.open_sweep(LEAD, 1) is None


def test_job_deadline_mid_client_then_resume_there(world: World) -> None:
    world.config = settings(job_seconds=35)
    first = world.run()
    assert first.outcome is Outcome.STOPPED_AT_DEADLINE
    assert first.exit_code == EXIT_OK
    assert world.processed() == ["c0", "c1", "c2", "c3"]
    assert world.status("c3") is Status.JOB_TIMEOUT_KILLED
    assert first.stopped_at == "c3"
    assert first.counts.remaining == 7
    run = world.store.runs()[0]
    assert (run.outcome, run.stopped_at, run.counts.remaining) == (Outcome.STOPPED_AT_DEADLINE, "c3", 7)
    second = world.run()
    assert world.processed() == ["c3", "c4", "c5", "c6"]
    assert second.stopped_at == "c6"
    world.config = settings()
    world.run()
    assert world.processed() == ["c6", "c7", "c8", "c9"]
    assert all(world.status(c) is Status.COMPLETED for c in ALL10)


def test_client_deadline_is_the_smaller_of_its_limit_and_the_time_left(world: World) -> None:
    world.executor.scripts = {"c0": Script(seconds=500)}
    world.config = settings(client_minutes=1, job_seconds=30)
    report = world.run()
    assert world.status("c0") is Status.JOB_TIMEOUT_KILLED  # the job deadline was the binding one
    assert report.stopped_at == "c0"
    assert world.clock.monotonic() - 1000.0 == pytest.approx(30)


def test_client_timeout_is_killed_recorded_and_the_next_client_runs(world: World) -> None:
    world.executor.scripts = {"c1": Script(seconds=500, ignores_term=True)}
    report = world.run()
    assert world.status("c1") is Status.CLIENT_TIMEOUT_KILLED
    state = world.store.job_states(LEAD)["c1"]
    assert state.last_run_seconds == pytest.approx(70)  # 60 s limit + 10 s grace
    assert "limit of 1 minute" in (state.message or "") and "SIGKILL" in (state.message or "")
    assert world.processed() == ALL10
    assert report.counts.timed_out == 1
    assert report.outcome is Outcome.COMPLETED


def test_failed_and_timed_out_clients_are_not_retried_in_the_sweep_unless_asked(world: World) -> None:
    world.executor.scripts = {"c1": Script(error="boom"), "c2": Script(seconds=500)}
    world.config = settings(job_seconds=100)
    world.run()  # stops at the deadline part-way
    assert world.status("c1") is Status.FAILED
    assert world.status("c2") is Status.CLIENT_TIMEOUT_KILLED
    world.processed()
    assert "c1" not in world.plan() and "c2" not in world.plan()
    assert world.plan(retry_failed=True)[:3] == ["c5", "c1", "c2"]  # the cut-short one still first
    world.run(retry_failed=True)
    assert world.processed()[:3] == ["c5", "c1", "c2"]


def test_sigterm_mid_client_interrupts_and_the_next_run_resumes_there(world: World) -> None:
    world.executor.scripts = {"c2": Script(seconds=30, on_start=lambda: world.stop.request("SIGTERM", 15))}
    report = world.run()
    assert report.outcome is Outcome.INTERRUPTED
    assert report.exit_code == EXIT_SIGTERM
    assert world.status("c2") is Status.JOB_TIMEOUT_KILLED
    assert "SIGTERM" in (world.store.job_states(LEAD)["c2"].message or "")
    assert world.store.runs()[0].outcome is Outcome.INTERRUPTED
    assert world.store.leases() == []
    world.processed()
    world.executor.scripts = {}
    world.run()
    assert world.processed() == ["c2", *ALL10[3:]]


def test_sigint_exit_code(world: World) -> None:
    world.executor.scripts = {"c0": Script(on_start=lambda: world.stop.request("SIGINT", 2))}
    assert world.run().exit_code == EXIT_SIGINT


def test_second_signal_kills_at_once(world: World) -> None:
    def twice() -> None:
        world.stop.request("SIGINT", 2)
        world.stop.request("SIGINT", 2)

    world.executor.scripts = {"c0": Script(seconds=30, ignores_term=True, on_start=twice)}
    world.run()
    assert world.store.job_states(LEAD)["c0"].last_run_seconds == 0  # no grace waited


def live_holder(run_id: str = "holder") -> Holder:
    from fnf import host

    return host.this_holder(run_id)


def hold(world: World, holder: Holder, job_types: tuple[JobType, ...] = (LEAD,), stream: int = 1) -> None:
    record = RunRecord(holder.run_id, "lead_scoring", stream, "job_x", holder, world.clock.now(), world.clock.now())
    world.store.acquire(record, job_types, 180, lambda lease: False)


def test_a_busy_stream_does_nothing_and_exits_zero(world: World) -> None:
    hold(world, live_holder())
    report = world.run()
    assert report.outcome is Outcome.BUSY
    assert report.exit_code == EXIT_OK
    assert "held by run holder" in (report.message or "")
    assert world.processed() == []
    assert world.store.job_states(LEAD) == {}
    assert world.store.runs()[0].outcome is Outcome.BUSY


def test_all_and_a_single_type_on_one_stream_exclude_each_other(world: World) -> None:
    hold(world, live_holder(), (LEAD,))
    assert world.run("all").outcome is Outcome.BUSY
    hold(world, live_holder("h2"), tuple(JobType), stream=2)
    assert world.run("post_scoring", stream=2).outcome is Outcome.BUSY


def test_stale_run_on_another_host_is_taken_over(world: World) -> None:
    dead = Holder("dead-run", "elsewhere", 1234, "b|pid:[1]", "9")
    hold(world, dead)
    world.store.start_sweep(LEAD, 1, "dead-run", world.clock.now())
    from fnf.models import JobState, StateUpdate
    from fnf.store.base import RunCounts, RunProgress

    sweep = world.store.open_sweep(LEAD, 1)
    assert sweep is not None
    world.store.save(
        [
            StateUpdate("c0", LEAD, JobState(Status.COMPLETED, "j", "dead-run", sweep.id, world.clock.now())),
            StateUpdate("c5", LEAD, JobState(Status.RUNNING, "j", "dead-run", sweep.id, world.clock.now())),
        ],
        RunProgress("dead-run", RunCounts()),
    )
    world.clock.advance(120)
    assert world.run().outcome is Outcome.BUSY  # heartbeat 120 s old: not yet 3 intervals
    world.clock.advance(61)
    report = world.run()
    assert report.outcome is Outcome.COMPLETED
    assert world.processed() == ["c5", "c1", "c2", "c3", "c4", "c6", "c7", "c8", "c9"]
    old = next(r for r in world.store.runs() if r.run_id == "dead-run")
    assert old.outcome is Outcome.ABANDONED


def test_a_finished_sweep_is_followed_by_a_new_one(world: World) -> None:
    world.run()
    world.processed()
    world.run()
    assert world.processed() == ALL10
    sweeps = sorted(s.number for s in world.store.sweeps.values())  # type: ignore[attr-defined]
    assert sweeps == [1, 2]


def test_membership_changes_mid_sweep(world: World) -> None:
    world.config = settings(job_seconds=35)
    world.run()  # c0..c2 done, c3 cut short
    world.processed()
    world.store.import_clients([Client("c1", "Client 1", 2), Client("late", "Late", 1)])  # c1 moves out
    world.store.remove_clients(["c4"])
    world.config = settings()
    world.run()
    assert world.processed() == ["c3", "c5", "c6", "c7", "c8", "c9", "late"]


def test_a_client_added_during_the_run_is_processed_in_the_same_sweep(world: World) -> None:
    world.executor.scripts = {"c9": Script(on_start=lambda: world.store.import_clients([Client("new", "New", 1)]))}
    world.run()
    assert world.processed() == [*ALL10, "new"]
    assert world.store.open_sweep(LEAD, 1) is None


def test_client_option_runs_just_those(world: World) -> None:
    world.run(client_ids=("c7", "c2"))
    assert world.processed() == ["c7", "c2"]
    assert world.status("c7") is Status.COMPLETED
    world.run()
    assert world.processed() == [c for c in ALL10 if c not in ("c7", "c2")]


def test_client_option_refuses_unknown_or_foreign_clients(world: World) -> None:
    with pytest.raises(UsageError, match="no client has id 'zz'"):
        world.run(client_ids=("zz",))
    with pytest.raises(UsageError, match="client 'other' is in stream 2, not 1 \\(use --stream 2\\)"):
        world.run(client_ids=("other",))
    assert world.store.runs() == []


def test_new_sweep_starts_over(world: World) -> None:
    world.config = settings(job_seconds=35)
    world.run()
    world.processed()
    world.config = settings()
    world.run(new_sweep=True)
    assert world.processed() == ALL10


def test_dry_run_plan_matches_the_run_and_changes_nothing(world: World) -> None:
    world.config = settings(job_seconds=35)
    world.run()
    world.processed()
    before = (dict(world.store.states), len(world.store.runs()))  # type: ignore[attr-defined]
    plan = world.plan()
    assert plan == ["c3", *ALL10[4:]]
    assert (dict(world.store.states), len(world.store.runs())) == before  # type: ignore[attr-defined]
    world.config = settings()
    world.run()
    assert world.processed() == plan


def test_all_does_every_type_per_client_before_the_next(world: World) -> None:
    world.store.remove_clients([f"c{i}" for i in range(3, 10)])
    report = world.run("all")
    assert world.executor.started == [(c, t) for c in ("c0", "c1", "c2") for t in JobType]
    assert report.counts.completed == 9
    for job_type in JobType:
        assert world.status("c2", job_type) is Status.COMPLETED
    states = world.store.job_states(JobType.POST_SCORING)
    assert states["c0"].job_id == "job_postscore_stream1_20250920_143022"


def test_all_resumes_inside_a_client(world: World) -> None:
    world.store.remove_clients([f"c{i}" for i in range(2, 10)])
    world.config = settings(job_seconds=45)  # c0: 3 x 10 s, c1: lead done, harvest cut short at 45 s
    world.run("all")
    assert world.status("c1", JobType.POST_HARVESTING) is Status.JOB_TIMEOUT_KILLED
    world.executor.started.clear()
    world.config = settings()
    world.run("all")
    assert world.executor.started == [("c1", JobType.POST_HARVESTING), ("c1", JobType.POST_SCORING)]


def test_heartbeats_while_a_client_runs_and_it_shows_running(world: World) -> None:
    world.executor.scripts = {"c0": Script(seconds=150, progress={"done": 4, "total": 10})}
    world.config = settings(client_minutes=5)
    states_seen = []
    original = world.store.save

    def spy(updates, progress):  # type: ignore[no-untyped-def]
        states_seen.extend((u.client_id, u.state.status, u.state.message) for u in updates)
        return original(updates, progress)

    world.store.save = spy  # type: ignore[method-assign]
    world.run(client_ids=("c0",))
    assert ("c0", Status.RUNNING, "progress 4/10") in states_seen
    run = world.store.runs()[0]
    assert run.heartbeat_at >= run.started_at + timedelta(seconds=120)


def test_losing_the_lease_stops_the_run_as_failed_without_writing(world: World) -> None:
    def steal() -> None:
        thief = RunRecord("thief", "lead_scoring", 1, "j", live_holder("thief"), world.clock.now(), world.clock.now())
        world.store.acquire(thief, (LEAD,), 180, lambda lease: True)

    world.executor.scripts = {"c1": Script(seconds=200, on_start=steal)}
    world.config = settings(client_minutes=5)
    report = world.run()
    assert report.outcome is Outcome.FAILED
    assert report.exit_code == EXIT_RUN_FAILED
    assert world.status("c1") is Status.STARTED  # the thief owns it now; nothing overwritten
    assert world.processed() == ["c0", "c1"]


def test_an_empty_stream_is_not_a_success_and_names_the_streams_that_have_clients(world: World) -> None:
    """A typo in a cron line (--stream 7) must not stay green tick after tick."""
    report = world.run(stream=7)
    assert (report.outcome, report.exit_code) == (Outcome.NO_CLIENTS, 3)
    assert "stream 7 has no clients (streams with clients: 1, 2)" in (report.message or "")
    assert world.store.open_sweep(LEAD, 7) is None
    (recorded,) = world.store.runs(stream=7)
    assert recorded.outcome is Outcome.NO_CLIENTS


def test_sighup_exit_code(world: World) -> None:
    world.executor.scripts = {"c0": Script(on_start=lambda: world.stop.request("SIGHUP", 1))}
    report = world.run()
    assert (report.outcome, report.exit_code) == (Outcome.INTERRUPTED, 129)


class FlakyStore(MemoryStore):
    """A store whose heartbeats (and, once ``down``, every save) fail as an unreachable store does."""

    def __init__(self, failing_beats: int) -> None:
        super().__init__()
        self.failing_beats = failing_beats
        self.down = False

    def heartbeat(self, run_id: str, now: object) -> bool:  # type: ignore[override]
        if self.failing_beats > 0:
            self.failing_beats -= 1
            raise StoreUnavailableError("Airtable did not answer (test)")
        return super().heartbeat(run_id, now)  # type: ignore[arg-type]

    def save(self, updates: object, progress: object) -> frozenset[str]:  # type: ignore[override]
        if self.down:
            raise StoreUnavailableError("Airtable did not answer (test)")
        return super().save(updates, progress)  # type: ignore[arg-type,return-value]


def flaky_world(failing_beats: int) -> World:
    store = FlakyStore(failing_beats)
    store.import_clients([Client(f"c{i}", f"Client {i}", 1) for i in range(3)])
    clock = FakeClock()
    executor = ScriptedExecutor(clock, default=Script(seconds=300))  # each client outlives 5 heartbeats
    return World(store, clock, executor, StopFlag(), settings(client_minutes=10))


def test_a_missed_heartbeat_or_two_does_not_stop_the_run() -> None:
    world = flaky_world(failing_beats=1)
    report = world.run()
    assert (report.outcome, report.exit_code) == (Outcome.COMPLETED, EXIT_OK)
    assert {world.status(f"c{i}") for i in range(3)} == {Status.COMPLETED}


def test_heartbeats_failing_for_the_stale_period_stop_the_run_as_interrupted_with_exit_1() -> None:
    world = flaky_world(failing_beats=10)
    report = world.run()
    assert (report.outcome, report.exit_code) == (Outcome.INTERRUPTED, EXIT_RUN_FAILED)
    assert report.stopped_at == "c0"
    assert "store is unreachable" in (report.message or "")
    assert world.status("c0") in (Status.STARTED, Status.RUNNING), "cut short: resumed first next run"


def test_a_store_that_goes_down_between_clients_keeps_the_resume_point() -> None:
    world = flaky_world(failing_beats=0)
    store = world.store
    assert isinstance(store, FlakyStore)
    original = world.executor.start

    def start_then_fail(work: object) -> object:
        if work.client.id == "c1":  # type: ignore[attr-defined]
            store.down = True
        return original(work)  # type: ignore[arg-type]

    world.executor.start = start_then_fail  # type: ignore[method-assign]
    report = world.run()
    assert (report.outcome, report.exit_code) == (Outcome.INTERRUPTED, EXIT_RUN_FAILED)
    assert report.stopped_at == "c1"
    store.down = False
    world.executor.start = original  # type: ignore[method-assign]
    world.clock.advance(3600)
    again = world.run()
    assert again.outcome is Outcome.COMPLETED
    assert world.processed() == ["c0", "c1", "c1", "c2"]


def test_admit_by_history_stops_before_a_client_that_cannot_fit_instead_of_killing_it() -> None:
    store = MemoryStore()
    store.import_clients([Client(f"c{i}", f"C{i}", 1) for i in range(5)])
    clock = FakeClock()
    executor = ScriptedExecutor(clock, default=Script(seconds=100))
    world = World(store, clock, executor, StopFlag(), settings(client_minutes=10, job_seconds=3600))
    world.run()  # builds the history: each client took 100 s
    assert world.store.job_states(LEAD)["c3"].recent_seconds == (100.0,)
    world.config = settings(client_minutes=10, job_seconds=250)
    plain = world.run(new_sweep=True)
    assert plain.outcome is Outcome.STOPPED_AT_DEADLINE
    assert world.status("c2") is Status.JOB_TIMEOUT_KILLED
    world.clock.advance(10)
    world.processed()
    admitted = world.run(new_sweep=True, admit_by_history=True)
    assert admitted.outcome is Outcome.STOPPED_AT_DEADLINE
    assert world.processed() == ["c0", "c1"]
    assert {c.status for c in admitted.clients} == {Status.COMPLETED}
    assert admitted.stopped_at == "c2" and "does not fit" in (admitted.message or "")
    assert "p90 of its last" in (admitted.message or "")
    nxt = world.run(admit_by_history=True)
    assert world.processed()[:1] == ["c2"], "the next run starts with the client not started"
    assert nxt.counts.completed == 2


def test_durations_are_kept_for_the_last_ten_attempts_that_ran_to_an_end() -> None:
    from fnf.models import p90

    store = MemoryStore()
    store.import_clients([Client("c0", "C0", 1)])
    clock = FakeClock()
    world = World(store, clock, ScriptedExecutor(clock, default=Script(seconds=7)), StopFlag(), settings())
    for _ in range(12):
        world.run(new_sweep=True)
        world.clock.advance(60)
    assert world.store.job_states(LEAD)["c0"].recent_seconds == (7.0,) * 10
    assert p90((1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 100.0)) == 9.0
    assert p90((5.0, 1.0, 3.0)) == 5.0
    assert p90(()) is None


def test_a_signal_during_a_retry_wait_while_taking_the_stream_is_an_interruption(world: World) -> None:
    store = world.store
    assert isinstance(store, MemoryStore)
    original = store.acquire

    def flaky_acquire(run, job_types, stale_after, is_dead):  # type: ignore[no-untyped-def]
        original(run, job_types, stale_after, is_dead)  # the claim is written, then the read-back waits
        world.stop.request("SIGINT", 2)
        raise StoreUnavailableError("stopped by SIGINT while waiting to retry Airtable")

    store.acquire = flaky_acquire  # type: ignore[method-assign]
    stop = StopFlag()
    world.stop = stop
    runner = Runner(store, world.config, HANDLERS, world.executor, world.clock, stop)
    report = runner.run(RunRequest("lead_scoring", 1))
    assert report.outcome is Outcome.INTERRUPTED and report.exit_code == EXIT_SIGINT
    assert "nothing was started" in (report.message or "")
    assert world.executor.started == []
    assert store.leases() == [], "the claim is withdrawn"
    assert store.runs()[0].outcome is Outcome.INTERRUPTED


def test_without_a_signal_a_store_failure_while_taking_the_stream_still_fails_loudly(world: World) -> None:
    store = world.store
    assert isinstance(store, MemoryStore)

    def down(*args: object) -> None:
        raise StoreUnavailableError("Airtable unreachable for 300 s")

    store.acquire = down  # type: ignore[assignment,method-assign]
    with pytest.raises(StoreUnavailableError):
        world.run()


def test_clients_removed_or_moved_during_a_run_are_not_started_and_are_counted(world: World) -> None:
    def operator() -> None:  # while c1 runs: remove c5, move c6 and c7 to stream 2
        world.store.remove_clients(["c5"])
        world.store.import_clients([Client("c6", "Client 6", 2), Client("c7", "Client 7", 2)])

    world.executor.scripts = {"c1": Script(seconds=10, on_start=operator)}
    report = world.run()
    assert world.processed() == ["c0", "c1", "c2", "c3", "c4", "c8", "c9"]
    assert report.counts.completed == 7 and report.counts.skipped == 3
    assert "skipped 3 client(s) that left the stream or ran elsewhere before their start: c5, c6, c7" in (
        report.message or ""
    )
    assert world.status("c6") is None, "nothing was written for a client that was not started"
    moved = world.run(stream=2)
    assert sorted(world.processed()) == ["c6", "c7", "other"] and moved.counts.completed == 3


def test_a_client_in_flight_in_another_run_is_never_started_again(world: World) -> None:
    """Stream 1's run has c3 in flight when an operator moves it to stream 2 and stream 2 runs."""
    second: list[RunReport] = []

    def move_and_run_stream_2() -> None:
        world.store.import_clients([Client("c3", "Client 3", 2)])
        runner = Runner(world.store, world.config, HANDLERS, world.executor, world.clock, StopFlag())
        second.append(runner.run(RunRequest("lead_scoring", 2, client_ids=("c3",))))

    world.executor.scripts = {"c3": Script(seconds=10, on_start=move_and_run_stream_2)}
    world.run()
    assert [cid for cid, _ in world.executor.started].count("c3") == 1
    assert second[0].counts.skipped == 1 and second[0].counts.completed == 0


class _Raising(SilentObserver):
    """An observer broken in every call (a progress bar or alert channel with a bug)."""

    def __getattribute__(self, name: str) -> Any:
        if name in {"run_started", "sweep_planned", "client_started", "client_ended", "run_ending", "run_ended"}:

            def broken(*args: object) -> None:
                raise RuntimeError(f"{name} is broken")

            return broken
        return super().__getattribute__(name)


def test_an_observer_that_raises_is_skipped_and_the_run_goes_on(world: World, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class Counting(SilentObserver):
        def client_ended(self, client: Client, job_type: JobType, state: JobState, newly: bool) -> JobState:
            seen.append(client.id)
            return state

    runner = Runner(
        world.store,
        world.config,
        HANDLERS,
        world.executor,
        world.clock,
        StopFlag(),
        observer=Observers(_Raising(), Counting()),
    )
    report = runner.run(RunRequest("lead_scoring", 1))
    assert report.outcome is Outcome.COMPLETED and report.counts.completed == 10
    assert seen == ALL10  # the observer after the broken one is still told
    assert all(world.status(c) is Status.COMPLETED for c in ALL10)
    assert "_Raising failed and was skipped: client_ended is broken" in caplog.text
