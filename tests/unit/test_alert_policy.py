"""The alert policy inside real run semantics (fake clock, scripted clients, recording channel)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fnf.alerts import Alerter, Dispatcher
from fnf.config import HandlerSpec, Settings, load_settings
from fnf.handlers import PythonHandler
from fnf.models import Client, Holder, JobType, Outcome, RunRecord, StateUpdate, Status
from fnf.proc.signals import StopFlag
from fnf.run.request import RunReport, RunRequest
from fnf.run.runner import Runner
from fnf.testing import FakeClock, MemoryStore, RecordingChannel, Script, ScriptedExecutor

LEAD = JobType.LEAD_SCORING


def _handler(client: Client, ctx: object) -> int:
    return 0


HANDLERS = {t: PythonHandler(HandlerSpec(t, "python", "x:y", "X"), _handler) for t in JobType}


class World:
    def __init__(self, clients: int = 5, *, quarantine_after: int = 0, quiet_minutes: float = 60) -> None:
        self.store = MemoryStore()
        self.store.import_clients([Client(f"c{i:02d}", f"Client {i}", 1) for i in range(clients)])
        self.clock = FakeClock()
        self.executor = ScriptedExecutor(self.clock, default=Script(seconds=1))
        self.channel = RecordingChannel()
        self.settings: Settings = load_settings(
            environ={
                "MAX_CLIENT_PROCESSING_MINUTES": "1",
                "MAX_JOB_PROCESSING_HOURS": "10",
                "FNF_QUARANTINE_AFTER": str(quarantine_after),
                "FNF_ALERT_QUIET_MINUTES": str(quiet_minutes),
            }
        )

    def script(self, client_id: str, script: Script) -> None:
        self.executor.scripts[client_id] = script

    def run(self, **kw: object) -> RunReport:
        alerter = Alerter(self.settings, Dispatcher([self.channel]), None, self.clock)
        runner = Runner(self.store, self.settings, HANDLERS, self.executor, self.clock, StopFlag(), alerter)
        report = runner.run(RunRequest("lead_scoring", 1, **kw))  # type: ignore[arg-type]
        self.clock.advance(60)
        return report

    def state(self, client_id: str) -> object:
        return self.store.job_states(LEAD)[client_id]


HANG = Script(seconds=10_000)


def test_fifty_timeouts_make_one_immediate_alert_and_one_summary_naming_all(caplog: pytest.LogCaptureFixture) -> None:
    world = World(60)
    for i in range(50):
        world.script(f"c{i:02d}", HANG)
    report = world.run()
    assert report.counts.timed_out == 50
    assert len(world.channel.messages) == 2
    first, summary = world.channel.messages
    assert first.subject == "[fnf] lead_scoring stream 1: client timed out: Client 0 (c00)"
    assert "client limit of 1 minute" in first.text and "Next: not retried in this sweep" in first.text
    assert "50 client timed out" in summary.subject
    assert all(f"Client {i} (c{i:02d})" in summary.text for i in range(50))
    assert len(summary.data["alerts"]) == 50
    run = world.store.runs()[0]
    assert run.alerts == "client_timeout x50 (1 sent at once, summary at the end)"
    state = world.state("c07")
    assert state.alert_kind == "client_timeout" and state.alert_at is not None  # type: ignore[attr-defined]


def test_a_single_event_sends_one_message_and_no_repeat_summary() -> None:
    world = World(3)
    world.script("c01", Script(error="boom"))
    world.run()
    assert world.channel.subjects == ["[fnf] lead_scoring stream 1: client failed: Client 1 (c01)"]
    assert "boom" in world.channel.messages[0].text


def test_the_same_client_timing_out_again_is_quiet_until_the_quiet_period_ends() -> None:
    world = World(2, quiet_minutes=120)
    world.script("c00", HANG)
    world.run()
    assert len(world.channel.messages) == 1
    world.run()  # a new sweep 1 minute later: c00 times out again, within the quiet period
    assert len(world.channel.messages) == 1
    assert world.store.runs()[0].alerts is None
    world.clock.advance(3 * 3600)
    world.run()
    assert len(world.channel.messages) == 2


def test_quarantine_after_n_timeouts_in_a_row_one_alert_then_skipped_until_released() -> None:
    world = World(3, quarantine_after=3, quiet_minutes=0)
    world.script("c01", HANG)
    for _ in range(2):
        world.run()
    assert world.state("c01").timeouts_in_row == 2  # type: ignore[attr-defined]
    assert world.state("c01").quarantined_at is None  # type: ignore[attr-defined]
    world.run()
    state = world.state("c01")
    assert state.quarantined_at is not None and state.timeouts_in_row == 3  # type: ignore[attr-defined]
    assert "fnf clients release c01" in (state.message or "")  # type: ignore[attr-defined]
    quarantined = [m for m in world.channel.messages if "client quarantined" in m.subject]
    assert len(quarantined) == 1 and "fnf clients release c01 --type lead_scoring" in quarantined[0].text
    world.executor.started.clear()
    world.run()
    assert [cid for cid, _ in world.executor.started] == ["c00", "c02"]
    released = replace(state, quarantined_at=None, timeouts_in_row=0)  # type: ignore[type-var]
    world.store.put_states([StateUpdate("c01", LEAD, released)])
    world.script("c01", Script(seconds=1))
    world.executor.started.clear()
    world.run()
    assert [cid for cid, _ in world.executor.started] == ["c00", "c01", "c02"]
    assert world.state("c01").status is Status.COMPLETED  # type: ignore[attr-defined]


def test_a_success_resets_the_timeout_streak() -> None:
    world = World(1, quarantine_after=2, quiet_minutes=0)
    world.script("c00", HANG)
    world.run()
    world.script("c00", Script(seconds=1))
    world.run()
    world.script("c00", HANG)
    world.run()
    assert world.state("c00").timeouts_in_row == 1  # type: ignore[attr-defined]
    assert world.state("c00").quarantined_at is None  # type: ignore[attr-defined]


def test_the_job_deadline_alert_names_where_it_stopped_and_what_is_left() -> None:
    world = World(10)
    world.settings = replace(world.settings, job_timeout=3.5)
    report = world.run()
    assert report.outcome is Outcome.STOPPED_AT_DEADLINE
    (message,) = world.channel.messages
    assert "job deadline reached: Client 3 (c03)" in message.subject
    assert "resumes from client c03 on the next run; 7 client(s) left in the sweep" in message.text
    assert "job limit of 3.5 seconds" in message.text


def test_taking_over_a_stale_run_is_alerted() -> None:
    world = World(1)
    holder = Holder("dead-run", "other-host", 1, "boot|pid:[1]", "1")
    stale = RunRecord("dead-run", "lead_scoring", 1, "job_x", holder, world.clock.now(), world.clock.now())
    world.store.acquire(stale, (LEAD,), 180, lambda lease: False)
    world.clock.advance(3600)
    world.run()
    assert any("stale run taken over" in s for s in world.channel.subjects)
    assert "dead-run" in world.channel.messages[0].text


def test_fifty_timeouts_reach_a_real_smtp_server_as_two_emails() -> None:
    from alert_servers import smtp_server

    from fnf.alerts.channels import Smtp

    world = World(50)
    for i in range(50):
        world.script(f"c{i:02d}", HANG)
    with smtp_server() as server:
        world.channel = Smtp(server.url, ["ops@example.com"], "fnf@example.com")  # type: ignore[assignment]
        world.run()
    assert len(server.inbox.messages) == 2
    summary = server.inbox.messages[1].get_payload()
    assert all(f"Client {i} (c{i:02d})" in summary for i in range(50))
