"""Property: whatever the client durations, failures and job deadlines, repeated runs finish the
sweep with every client attempted once, plus one retry for each time a run was cut short on it."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from fnf.config import HandlerSpec, load_settings
from fnf.handlers import PythonHandler
from fnf.models import Client, JobType, Outcome, Status
from fnf.proc.signals import StopFlag
from fnf.run.request import RunRequest
from fnf.run.runner import Runner
from fnf.testing import FakeClock, MemoryStore, Script, ScriptedExecutor

LEAD = JobType.LEAD_SCORING
HANDLERS = {LEAD: PythonHandler(HandlerSpec(LEAD, "python", "x:y", "X"), lambda c, ctx: 0)}
client_behaviour = st.tuples(st.floats(0.5, 120), st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(client_behaviour, min_size=1, max_size=12), st.floats(70, 400))
def test_repeated_runs_finish_the_sweep_exactly(behaviours: list[tuple[float, bool]], job_seconds: float) -> None:
    store, clock = MemoryStore(), FakeClock()
    clients = [Client(f"c{i}", f"C{i}", 1) for i in range(len(behaviours))]
    store.import_clients(clients)
    scripts = {
        c.id: Script(seconds=seconds, error="boom" if fails else None)
        for c, (seconds, fails) in zip(clients, behaviours, strict=True)
    }
    executor = ScriptedExecutor(clock, scripts)
    config = load_settings(
        environ={
            "MAX_CLIENT_PROCESSING_MINUTES": "1",
            "MAX_JOB_PROCESSING_HOURS": str(job_seconds / 3600),
            "FNF_CIRCUIT_BREAKER_FAILURES": "0",  # this property is about resuming; the breaker has its own tests
        }
    )
    cut_short = 0
    for _ in range(len(clients) + 2):
        report = Runner(store, config, HANDLERS, executor, clock, StopFlag()).run(RunRequest("lead_scoring", 1))
        clock.advance(3600)
        if report.outcome is Outcome.COMPLETED:
            break
        assert report.outcome is Outcome.STOPPED_AT_DEADLINE
        if any(c.status is Status.JOB_TIMEOUT_KILLED for c in report.clients):
            cut_short += 1
    assert store.open_sweep(LEAD, 1) is None, "the sweep finished"
    starts = Counter(client_id for client_id, _ in executor.started)
    assert set(starts) == {c.id for c in clients}
    assert sum(starts.values()) - len(clients) == cut_short
    for client, (seconds, fails) in zip(clients, behaviours, strict=True):
        status = store.job_states(LEAD)[client.id].status
        if seconds > 60:
            assert status is Status.CLIENT_TIMEOUT_KILLED
        else:
            assert status is (Status.FAILED if fails else Status.COMPLETED)
