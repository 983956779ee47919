"""The shipped test doubles behave as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fnf.config import HandlerSpec
from fnf.handlers import PythonHandler
from fnf.models import Client, JobType
from fnf.testing import FakeClock, Script, ScriptedExecutor
from fnf.watchdog import ResultKind, Work


def test_fake_clock_moves_wall_and_monotonic_together() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    mono = clock.monotonic()
    clock.advance(90)
    assert clock.now() == datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=90)
    assert clock.monotonic() == mono + 90
    with pytest.raises(ValueError):
        clock.advance(-1)


def work(client_id: str) -> Work:
    handler = PythonHandler(HandlerSpec(JobType.LEAD_SCORING, "python", "x:y", "X"), lambda c, ctx: 0)
    return Work(Client(client_id, "n", 1), JobType.LEAD_SCORING, "j", "r", 1, datetime.now(UTC), 0.0, handler)


def test_scripted_work_takes_its_time_on_the_clock() -> None:
    clock = FakeClock()
    executor = ScriptedExecutor(clock, {"a": Script(seconds=30, count=4)})
    running = executor.start(work("a"))
    assert running.wait(10) is None
    assert running.wait(10) is None
    result = running.wait(60)
    assert result is not None and (result.kind, result.count) == (ResultKind.SUCCEEDED, 4)
    assert clock.monotonic() - 1000.0 == pytest.approx(30)
    assert executor.started == [("a", JobType.LEAD_SCORING)]


def test_scripted_failures_and_stops() -> None:
    clock = FakeClock()
    executor = ScriptedExecutor(clock, {"f": Script(error="boom"), "s": Script(seconds=99, ignores_term=True)})
    failed = executor.start(work("f")).wait(5)
    assert failed is not None and (failed.kind, failed.message) == (ResultKind.FAILED, "boom")
    before = clock.monotonic()
    stopped = executor.start(work("s")).stop(10)
    assert stopped.kind is ResultKind.STOPPED and "SIGKILL" in (stopped.message or "")
    assert clock.monotonic() - before == 10
