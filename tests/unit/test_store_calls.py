"""Fewer store calls for the same work: FNF_WRITE_BATCH claims clients ahead in one write, their ends
carried by the next claim (a stop records the claimed-but-unstarted clients cut short, first next
run); a run lists its stream once at its start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fnf.models import Client, Outcome, StateUpdate, Status
from fnf.proc.signals import StopFlag
from fnf.store.base import RunProgress
from fnf.testing import FakeClock, MemoryStore, Script, ScriptedExecutor
from tests.unit.test_runner import ALL10, LEAD, World, settings


def world_with(batch: int, k: int = 1, **kw: float) -> World:
    store = MemoryStore()
    store.import_clients([Client(f"c{i}", f"Client {i}", 1) for i in range(10)])
    clock = FakeClock()
    config = replace(settings(**kw), concurrency=k, write_batch=batch)
    return World(store, clock, ScriptedExecutor(clock, default=Script(seconds=10)), StopFlag(), config)


def test_a_batch_of_five_writes_five_times_less_and_does_the_same_work() -> None:
    exact, batched = world_with(1), world_with(5)
    assert exact.run().outcome is Outcome.COMPLETED
    assert batched.run().outcome is Outcome.COMPLETED
    assert batched.processed() == exact.processed() == ALL10
    assert all(batched.status(c) is Status.COMPLETED for c in ALL10)
    assert isinstance(exact.store, MemoryStore) and isinstance(batched.store, MemoryStore)
    assert batched.store.writes * 3 <= exact.store.writes, (exact.store.writes, batched.store.writes)


def test_clients_claimed_ahead_start_one_by_one_each_on_its_own_deadline() -> None:
    world = world_with(5, client_minutes=1)
    world.executor.scripts = {"c1": Script(seconds=500)}  # over its 60 s limit, started after c0
    world.run()
    assert world.status("c1") is Status.CLIENT_TIMEOUT_KILLED
    assert world.status("c2") is Status.COMPLETED
    starts = {client: at for client, _, at in world.executor.starts}
    assert starts["c1"] == starts["c0"] + 10 and starts["c2"] >= starts["c1"] + 60


def test_a_signal_records_the_claimed_clients_cut_short_and_the_next_run_starts_with_them() -> None:
    world = world_with(5)
    world.executor.scripts = {"c1": Script(on_start=lambda: world.stop.request("SIGTERM", 15))}
    report = world.run()
    assert report.outcome is Outcome.INTERRUPTED
    assert world.processed() == ["c0", "c1"], "nothing starts after the signal"
    assert [world.status(c) for c in ("c2", "c3", "c4")] == [Status.JOB_TIMEOUT_KILLED] * 3
    state = world.store.job_states(LEAD)["c3"]
    assert "not started" in (state.message or "") and "SIGTERM" in (state.message or "")
    assert world.status("c5") is None, "only the claimed clients were touched"
    assert report.stopped_at == "c1"
    world.executor.scripts = {}
    world.run()
    assert world.processed() == ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]


def test_the_job_deadline_records_the_claimed_clients_cut_short() -> None:
    world = world_with(5, job_seconds=25)
    report = world.run()
    assert report.outcome is Outcome.STOPPED_AT_DEADLINE
    assert world.processed() == ["c0", "c1", "c2"]
    assert world.status("c2") is Status.JOB_TIMEOUT_KILLED
    assert [world.status(c) for c in ("c3", "c4")] == [Status.JOB_TIMEOUT_KILLED] * 2
    assert "job deadline" in (world.store.job_states(LEAD)["c4"].message or "")


class CountingStore(MemoryStore):
    """Counts the stream listings a run reads (a request per 100 clients on Airtable)."""

    listings = 0

    def list_clients(self, stream: int | None = None) -> list[Client]:
        self.listings += stream is not None
        return super().list_clients(stream)


def test_a_run_lists_its_stream_once_at_its_start_and_once_at_the_sweeps_end() -> None:
    store = CountingStore()
    store.import_clients([Client(f"c{i}", f"Client {i}", 1) for i in range(10)])
    clock = FakeClock()
    world = World(store, clock, ScriptedExecutor(clock, default=Script(seconds=10)), StopFlag(), settings())
    assert world.run().outcome is Outcome.COMPLETED
    assert store.listings == 2, "the first selection uses the listing read before the stream was taken"


class PacedStore(MemoryStore):
    """One write a second, as a paced Airtable base: a write sent early waits (on the fake clock)
    for its turn. Records the size of each write."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.next_write = 0.0
        self.sizes: list[int] = []

    def write_delay(self) -> float:
        return max(0.0, self.next_write - self.clock.monotonic())

    def save(self, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
        self.clock.advance(self.write_delay())
        self.next_write = self.clock.monotonic() + 1.0
        self.sizes.append(len(updates))
        return super().save(updates, progress)


def test_with_clients_in_flight_a_paced_claim_waits_for_their_ends_and_carries_them() -> None:
    clock = FakeClock()
    store = PacedStore(clock)
    store.import_clients([Client(f"c{i:02d}", f"Client {i}", 1) for i in range(40)])
    config = replace(settings(), concurrency=8)
    # Clients of different lengths end one by one: each end alone would claim its successor.
    scripts = {f"c{i:02d}": Script(seconds=0.1 + (i % 8) / 10) for i in range(40)}
    world = World(store, clock, ScriptedExecutor(clock, scripts=scripts), StopFlag(), config)
    assert world.run().outcome is Outcome.COMPLETED
    assert all(world.status(f"c{i:02d}") is Status.COMPLETED for i in range(40))
    claims = store.sizes[1:-1]  # between the first fill and the last ends
    assert sum(1 for size in claims if size <= 2) <= 2, f"writes of one end and one start: {store.sizes}"
    assert len(store.sizes) <= 7, store.sizes  # ends and starts of 8 clients a write (10 before)
