"""kill -9 at random instants, a busy stream, and taking over from a dead run."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from acceptance.conftest import Project, finish_sweep
from processes import alive, wait_until


@pytest.fixture
def project(any_project: Project) -> Project:
    """Every test here runs on the SQLite store and on the Airtable store (emulated)."""
    return any_project


@pytest.mark.slow  # many runs, each killed at a random instant: the slow suite holds them
@pytest.mark.timeout(600)  # a dozen runs and their takeovers on a loaded machine
def test_kill_minus_9_at_random_instants_loses_and_duplicates_nothing(project: Project) -> None:
    clients = [f"c{i:02d}" for i in range(30)]
    project.clients([{"id": c, "name": f"Client {c}", "stream": 1, "mode": "ok", "seconds": 0.3} for c in clients])
    rng = random.Random(20250920)
    kills = 0
    while kills < 12:
        proc = project.popen("run", "-t", "lead_scoring", "-s", "1")
        time.sleep(rng.uniform(0.1, 0.8))
        if proc.poll() is not None:
            break  # this run finished the sweep before its kill came
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        time.sleep(0.05)
        assert alive(project.pids()) == [], "the client's processes die with the runner"
    finish_sweep(project)
    assert kills >= 6, "most kills landed mid-sweep"
    jobs = project.jobs()
    statuses = {c: jobs[c]["status"] for c in clients}
    assert set(statuses.values()) == {"COMPLETED"}, statuses
    done = Counter(project.ledger())
    assert set(done) == set(clients)
    duplicates = sum(n - 1 for n in done.values())
    assert duplicates <= kills, f"{duplicates} duplicate completions after {kills} kills"
    assert alive(project.pids()) == []
    assert project.integrity() == "ok"
    runs = project.status()["runs"]
    assert all(r["outcome"] is not None for r in runs[1:]), "every superseded run has an outcome"


def test_second_run_on_a_busy_stream_touches_nothing_then_takes_over_after_kill(project: Project) -> None:
    project.clients(
        [
            {"id": "slow", "name": "Slow", "stream": 1, "mode": "hang"},
            {"id": "next", "name": "Next", "stream": 1, "mode": "ok"},
        ]
    )
    holder = project.popen("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "60s")
    wait_until(project.pids)
    wait_until(lambda: project.job("slow")["status"] == "RUNNING")  # the holder's own write is done
    before = project.dump()
    second = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["outcome"] == "busy"
    assert "is busy: held by run" in report["message"]
    after = project.dump()
    changed = set(after) - set(before)
    assert changed and all(
        line.startswith(('INSERT INTO "runs"', 'INSERT INTO "leases"', "Job Runs\t")) for line in changed
    ), changed  # only the busy run's record and the holder's heartbeat changed
    assert project.job("slow")["status"] in ("STARTED", "RUNNING")
    assert project.job("next")["status"] is None
    # The holder dies without a word; on this host that is provable at once.
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    third = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "1s", "--json")
    assert third.returncode == 0, third.stderr
    assert "took over" in third.stderr
    outcomes = {r["run_id"]: r["outcome"] for r in project.status()["runs"]}
    assert "abandoned" in outcomes.values()
    assert project.job("slow")["status"] == "CLIENT_TIMEOUT_KILLED"  # retried first, then cut at its limit
    assert project.job("next")["status"] == "COMPLETED"


def test_a_stale_heartbeat_from_another_host_is_taken_over(project: Project) -> None:
    project.clients(
        [
            {"id": "slow", "name": "Slow", "stream": 1, "mode": "hang"},
            {"id": "next", "name": "Next", "stream": 1, "mode": "ok"},
        ]
    )
    # a 20 s heartbeat interval: its lease is stale after 60 s, however slow this machine is
    slow_beat = {"HEARTBEAT_INTERVAL_MINUTES": "20s"}
    holder = project.popen("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "60s", env=slow_beat)
    wait_until(project.pids)
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    project.set_run_host("another-host")  # make the dead run look like it lives on another machine
    busy = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert json.loads(busy.stdout)["outcome"] == "busy"  # its heartbeat is recent: it may be alive
    project.set_heartbeat_age(120)  # past its stale period (three intervals): the holder is dead
    taken = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "1s", "--json")
    assert json.loads(taken.stdout)["outcome"] == "completed", taken.stderr
    assert project.job("next")["status"] == "COMPLETED"


def test_runs_started_at_the_same_moment_do_the_work_once(project: Project) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 0.2} for i in range(5)])
    procs = [project.popen("run", "-t", "lead_scoring", "-s", "1", "--json") for _ in range(4)]
    outcomes = sorted(json.loads(p.communicate(timeout=60)[0])["outcome"] for p in procs)
    assert outcomes == ["busy", "busy", "busy", "completed"]
    assert sorted(project.ledger()) == [f"c{i}" for i in range(5)]


def test_all_and_lead_scoring_on_one_stream_never_overlap(project: Project, tmp_path: Path) -> None:
    project.clients(
        [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "gate" if i == 0 else "ok"} for i in range(3)]
    )
    gate = tmp_path / "gate"  # the "all" run is certainly live, however slow the machine
    first = project.popen("run", "-t", "all", "-s", "1", "--json", env={"FNF_TEST_GATE": str(gate)})
    wait_until(Path(f"{gate}.waiting").exists, 60)
    second = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert json.loads(second.stdout)["outcome"] == "busy"
    gate.touch()
    assert json.loads(first.communicate(timeout=60)[0])["outcome"] == "completed"
    assert len(project.ledger()) == 9
