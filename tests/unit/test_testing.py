"""The shipped test doubles behave as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fnf.config import HandlerSpec
from fnf.handlers import PythonHandler
from fnf.models import Client, JobType
from fnf.proc.work import ResultKind, Work
from fnf.testing import FakeClock, Script, ScriptedExecutor


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


def test_the_fake_executor_waits_for_the_first_of_several_and_stops_them_like_real_ones() -> None:
    clock = FakeClock()
    scripts = {"quick": Script(seconds=5), "slow": Script(seconds=50), "deaf": Script(seconds=99, ignores_term=True)}
    executor = ScriptedExecutor(clock, scripts)
    quick, slow, deaf = (executor.start(work(cid)) for cid in ("quick", "slow", "deaf"))
    assert executor.most_at_once == 3
    executor.wait_any([quick, slow, deaf], 60)
    assert clock.monotonic() - 1000.0 == pytest.approx(5), "woken by the first to end"
    ended = quick.wait(0)
    assert ended is not None and ended.kind is ResultKind.SUCCEEDED
    assert slow.wait(0) is None
    slow.terminate()
    deaf.terminate()
    stopped = slow.wait(0)
    assert stopped is not None and (stopped.kind, stopped.message) == (ResultKind.STOPPED, "stopped by SIGTERM")
    executor.wait_any([deaf], 20)
    assert clock.monotonic() - 1000.0 == pytest.approx(25) and deaf.wait(0) is None, "SIGTERM ignored"
    killed = deaf.kill("killed by SIGKILL after 20 s grace")
    assert killed.kind is ResultKind.STOPPED and "SIGKILL" in (killed.message or "")


def test_the_emulator_keeps_its_old_import_path_and_module_entry_point() -> None:
    import subprocess
    import sys

    import fnf.airtable_emulator as old
    import fnf.testing.airtable_emulator as new

    assert old.Emulator is new.Emulator and old.Record is new.Record
    shown = subprocess.run(
        [sys.executable, "-m", "fnf.airtable_emulator", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "--port" in shown.stdout, shown.stderr
