"""Deadlines through the real CLI: misbehaving clients, the job deadline, SIGTERM."""

from __future__ import annotations

import json
import signal
import time

import pytest
from acceptance.conftest import Project
from processes import alive, wait_until


@pytest.fixture
def project(any_project: Project) -> Project:
    """Every test here runs on the SQLite store and on the Airtable store (emulated)."""
    return any_project


def test_misbehaving_clients_are_killed_recorded_and_the_next_client_runs(project: Project) -> None:
    modes = ["hang", "ignore_term", "busy", "grandchild_stdout", "escape"]
    rows = []
    for index, mode in enumerate(modes):
        rows.append({"id": f"bad{index}", "name": mode, "stream": 1, "mode": mode})
        rows.append({"id": f"ok{index}", "name": f"after {mode}", "stream": 1, "mode": "ok"})
    rows.append({"id": "flood", "name": "20 MB", "stream": 1, "mode": "flood"})
    project.clients(rows)
    result = project.fnf("run", "--type", "lead_scoring", "--stream", "1", "--client-timeout", "1s", "--grace", "0.5s")
    assert result.returncode == 0, result.stderr
    for index, mode in enumerate(modes):
        bad = project.job(f"bad{index}")
        assert bad["status"] == "CLIENT_TIMEOUT_KILLED", (mode, bad)
        assert bad["last_run_seconds"] <= 1.0 + 0.5 + 1.0, (mode, bad)
        assert project.job(f"ok{index}")["status"] == "COMPLETED"
    flood = project.job("flood")
    assert (flood["status"], flood["count"]) == ("COMPLETED", 20)
    assert "ignore_term" in result.stderr  # the client is named in the log
    assert alive(project.pids()) == []
    assert len(project.pids()) >= 13  # every handler and grandchild was seen, and is gone


def test_job_deadline_mid_client_exit_zero_and_resume_there(project: Project) -> None:
    # c01 outlasts the job deadline by far, so the deadline lands inside it however loaded the
    # machine is (a store write may hold the runner up to a second; the guard then kills it)
    seconds = {"c01": 6.0}
    project.clients(
        [
            {"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": seconds.get(f"c{i:02d}", 0.2)}
            for i in range(10)
        ]
    )
    first = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--job-timeout", "2.5s", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["outcome"] == "stopped_at_deadline"
    cut = report["stopped_at"]
    assert project.job(cut)["status"] == "JOB_TIMEOUT_KILLED"
    done = project.ledger()
    assert cut not in done and 1 <= len(done) <= 4
    assert report["remaining"] == 10 - len(done)
    second = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert second.returncode == 0
    after = project.ledger()[len(done) :]
    assert after[0] == cut
    assert sorted(after) == sorted(set(f"c{i:02d}" for i in range(10)) - set(done))
    assert json.loads(second.stdout)["outcome"] == "completed"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["TERM", "HUP"])
def test_a_stop_signal_mid_client_records_and_resumes(project: Project, signum: int, code: int) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 1.0} for i in range(5)])
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1")
    wait_until(project.ledger)
    time.sleep(0.3)  # c1 is in progress now
    sent = time.monotonic()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=25)
    assert time.monotonic() - sent < 25
    assert proc.returncode == code, stderr
    assert project.job("c1")["status"] == "JOB_TIMEOUT_KILLED"
    run = project.status()["runs"][0]
    assert (run["outcome"], run["stopped_at"]) == ("interrupted", "c1")
    assert alive(project.pids()) == []
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1")
    assert result.returncode == 0
    assert project.ledger() == ["c0", "c1", "c2", "c3", "c4"]


def test_signal_during_a_client_ignoring_sigterm_still_exits_in_time(project: Project) -> None:
    project.clients([{"id": "stubborn", "name": "S", "stream": 1, "mode": "ignore_term"}])
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", env={"FNF_KILL_GRACE_SECONDS": "2"})
    wait_until(project.pids)
    time.sleep(0.2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=25)
    assert 1.5 < time.monotonic() - sent < 20  # the grace was kept, and the client that ignores TERM was killed
    assert proc.returncode == 130
    assert project.job("stubborn")["status"] == "JOB_TIMEOUT_KILLED"
    assert alive(project.pids()) == []
