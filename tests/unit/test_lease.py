from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

from fnf import host
from fnf.models import Holder, JobType, Lease
from fnf.run import lease
from fnf.testing import FakeClock


def make_lease(clock: FakeClock, holder: Holder, stale_after: float = 180.0) -> Lease:
    now = clock.now()
    return Lease(JobType.LEAD_SCORING, 1, holder, now, now, stale_after)


def foreign_holder() -> Holder:
    return Holder("r-other", "some-other-host", 4242, "boot|pid:[1]", "123")


def test_heartbeat_older_than_three_intervals_is_dead() -> None:
    clock = FakeClock()
    held = make_lease(clock, foreign_holder(), stale_after=180)
    clock.advance(179)
    assert not lease.is_dead(held, clock.now())
    clock.advance(2)
    assert lease.is_dead(held, clock.now())


def test_a_live_process_on_this_host_is_alive() -> None:
    clock = FakeClock()
    me = host.this_holder("r1")
    assert host.holder_alive(me) is True
    assert not lease.is_dead(make_lease(clock, me), clock.now())


def test_a_dead_process_on_this_host_is_dead_at_once() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    holder = replace(host.this_holder("r1"), pid=child.pid, pid_start=host.start_ticks(child.pid) or "")
    child.wait()
    clock = FakeClock()
    assert host.holder_alive(holder) is False
    assert lease.is_dead(make_lease(clock, holder), clock.now())


def test_a_reused_pid_is_not_the_holder() -> None:
    impostor = replace(host.this_holder("r1"), pid_start="1")  # our pid, another start time
    assert host.holder_alive(impostor) is False
    assert host.kill_holder(impostor) is False  # never signalled
    assert os.getpid() == impostor.pid


def test_another_host_is_judged_by_heartbeat_only() -> None:
    assert host.holder_alive(foreign_holder()) is None


def test_a_heartbeat_of_this_boot_is_aged_on_the_boot_clock_whatever_the_wall_clocks_say() -> None:
    clock = FakeClock()
    held = replace(make_lease(clock, foreign_holder(), stale_after=180), beat=host.beat_stamp())
    clock.advance(7200)  # the wall clock stepped two hours ahead
    assert 0 <= lease.heartbeat_age(held, clock.now()) < 60
    assert not lease.is_dead(held, clock.now())
    old = f"{host.beat_stamp().rpartition('@')[0]}@{host.boottime() - 200:.3f}"
    assert lease.is_dead(replace(held, beat=old), clock.now() - timedelta(hours=5))


def test_a_heartbeat_from_another_boot_falls_back_to_the_wall_clock() -> None:
    clock = FakeClock()
    held = replace(make_lease(clock, foreign_holder()), beat="another-boot@12.5")
    clock.advance(60)
    assert lease.heartbeat_age(held, clock.now()) == 60


def test_a_heartbeat_far_in_the_future_is_stale_and_described_as_a_wrong_clock() -> None:
    clock = FakeClock()
    held = make_lease(clock, foreign_holder(), stale_after=180)
    now = clock.now()
    assert not lease.is_dead(held, now - timedelta(seconds=170))  # within the stale period: clocks a little apart
    assert lease.is_dead(held, now - timedelta(seconds=190))
    assert "190 s in the future (a clock is wrong)" in lease.describe(held, now - timedelta(seconds=190))
