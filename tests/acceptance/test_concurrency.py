"""``fnf run --concurrency K`` with real processes, on SQLite and on the Airtable emulator."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from acceptance.conftest import Project, finish_sweep, make_project
from processes import alive, wait_until

from fnf.testing.airtable_emulator import Emulator


@pytest.fixture(params=["sqlite", pytest.param("airtable", marks=pytest.mark.slow)])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """SQLite in the suite; the same tests on the Airtable emulator run with the slow ones."""
    if request.param == "sqlite":
        return make_project(tmp_path)
    return make_project(tmp_path, "airtable", request.getfixturevalue("emulator"))


def rows(count: int, seconds: float, mode: str = "ok") -> list[dict[str, object]]:
    return [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": mode, "seconds": seconds} for i in range(count)]


def spans(project: Project) -> list[tuple[str, float, float]]:
    path = project.path / "spans"
    found = []
    for line in path.read_text().splitlines():
        client, began, ended = line.split()
        found.append((client, float(began), float(ended)))
    return found


def most_at_once(found: list[tuple[str, float, float]]) -> int:
    events = sorted([(b, 1) for _, b, _ in found] + [(e, -1) for _, _, e in found], key=lambda ev: (ev[0], ev[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_four_clients_run_side_by_side_never_more_and_each_once(project: Project) -> None:
    project.env["FNF_TEST_SPANS"] = str(project.path / "spans")
    project.clients(rows(8, seconds=1.0))
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "4", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "completed"
    found = spans(project)
    assert most_at_once(found) == 4, "four at once, never a fifth"
    first_wave = sorted(found, key=lambda span: span[1])[:4]
    assert sorted(c for c, _, _ in first_wave) == ["c0", "c1", "c2", "c3"], "started in the stream's order"
    assert Counter(project.ledger()) == Counter(f"c{i}" for i in range(8))
    jobs = project.jobs()
    assert {jobs[f"c{i}"]["status"] for i in range(8)} == {"COMPLETED"}
    assert alive(project.pids()) == []


def test_each_client_keeps_its_own_deadline_while_the_others_go_on(project: Project) -> None:
    project.clients(
        [
            {"id": "hung", "name": "H", "stream": 1, "mode": "hang"},
            {"id": "deaf", "name": "D", "stream": 1, "mode": "ignore_term"},
            *rows(6, seconds=0.2),
        ]
    )
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "-k", "3", "--client-timeout", "1s", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["completed"] == 6 and report["timed_out"] == 2
    assert project.job("hung")["status"] == "CLIENT_TIMEOUT_KILLED"
    deaf = project.job("deaf")
    assert deaf["status"] == "CLIENT_TIMEOUT_KILLED" and "SIGKILL" in deaf["message"]
    assert alive(project.pids()) == []


def test_the_job_deadline_cuts_short_every_client_in_flight_and_they_go_first_next(project: Project) -> None:
    project.clients(rows(6, seconds=30))
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "-k", "4", "--job-timeout", "2s", "--json")
    report = json.loads(result.stdout)
    assert report["outcome"] == "stopped_at_deadline", result.stderr
    jobs = project.jobs()
    statuses = {f"c{i}": jobs[f"c{i}"]["status"] for i in range(6)}
    assert statuses == {**{f"c{i}": "JOB_TIMEOUT_KILLED" for i in range(4)}, "c4": None, "c5": None}
    assert report["stopped_at"] == "c0" and report["remaining"] == 6
    assert alive(project.pids()) == []
    plan = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--dry-run", "--json")
    planned = json.loads(plan.stdout)["clients"]
    assert [c["id"] for c in planned] == [f"c{i}" for i in range(6)]
    assert [c["resumed"] for c in planned] == [True] * 4 + [False] * 2


def test_sigterm_stops_every_client_in_flight_and_records_each(project: Project) -> None:
    project.clients(rows(6, seconds=30))
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "-k", "3")
    wait_until(lambda: len(project.pids()) >= 3, 30)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    jobs = project.jobs()
    statuses = [jobs[f"c{i}"]["status"] for i in range(6)]
    assert statuses == ["JOB_TIMEOUT_KILLED"] * 3 + [None] * 3
    assert alive(project.pids()) == []
    assert project.status()["runs"][0]["outcome"] == "interrupted"


@pytest.mark.slow  # many runs, each killed at a random instant: the slow suite holds them
def test_kill_minus_9_with_four_in_flight_loses_nothing_and_repeats_only_those(tmp_path: Path) -> None:
    _kill_and_check(make_project(tmp_path), kills=6)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_minus_9_with_four_in_flight_on_airtable(tmp_path: Path, emulator: Emulator) -> None:
    _kill_and_check(make_project(tmp_path, "airtable", emulator), kills=15)


def _kill_and_check(project: Project, kills: int) -> None:
    clients = [f"c{i:02d}" for i in range(40)]
    project.clients([{"id": c, "name": f"Client {c}", "stream": 1, "mode": "ok", "seconds": 0.3} for c in clients])
    rng = random.Random(4)
    done = 0
    while done < kills:
        proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "4")
        time.sleep(rng.uniform(0.3, 1.0))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        done += 1
        time.sleep(0.05)
        assert alive(project.pids()) == [], "every client's processes die with the runner"
        assert project.integrity() == "ok"
    finish_sweep(project, "--concurrency", "4")
    assert done >= kills // 2, "most kills landed mid-sweep"
    jobs = project.jobs()
    assert {jobs[c]["status"] for c in clients} == {"COMPLETED"}
    counts = Counter(project.ledger())
    assert set(counts) == set(clients), "no client lost"
    repeats = sum(n - 1 for n in counts.values())
    assert repeats <= 4 * done, f"{repeats} repeated completions after {done} kills: only the 4 in flight may repeat"
    assert all(r["outcome"] is not None for r in project.status()["runs"][1:]), "every superseded run has an outcome"


@pytest.mark.slow
def test_four_at_once_share_the_airtable_pace_and_never_breach_the_limit(tmp_path: Path) -> None:
    from airtable_helpers import TOKEN

    with Emulator(TOKEN, penalty=2.0) as strict:
        project = make_project(tmp_path, "airtable", strict, rate_limit=5)
        project.clients(rows(12, seconds=0.1))
        result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "4", "--json", timeout=300)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["completed"] == 12
        assert strict.stats.rate_limited == 0, "one pacer for all four: no 429 from fnf's own requests"
