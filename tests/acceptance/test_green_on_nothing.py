"""A run, a health check or an alert that did nothing says so: never green on nothing."""

from __future__ import annotations

import json
import time

from acceptance.conftest import Project

RUN = ("run", "-t", "lead_scoring", "-s")


def clients(project: Project) -> None:
    rows = [{"id": f"c{i}", "name": f"C{i}", "stream": 1 + i % 2, "mode": "ok"} for i in range(4)]
    rows.append({"id": "slow", "name": "Slow", "stream": 1, "mode": "ok", "seconds": 30})
    project.clients(rows)


def test_nothing_checked_is_not_healthy(project: Project) -> None:
    assert project.fnf("health").returncode == 2, "no store at all is a set-up error"
    clients(project)
    fresh = project.fnf("health")
    assert fresh.returncode == 1 and "nothing to check: no run started within the last 7 days" in fresh.stdout
    assert project.fnf(*RUN, "2").returncode == 0
    assert project.fnf("health").returncode == 0
    time.sleep(1.1)
    assert project.fnf("history", "prune", "--older-than", "1s").returncode == 0
    pruned = project.fnf("health", "--json")
    document = json.loads(pruned.stdout)
    assert pruned.returncode == 1 and document["healthy"] is False and document["checked"] == 0


def test_a_run_on_a_stream_without_clients_fails_visibly_and_health_names_it(project: Project) -> None:
    clients(project)
    typo = project.fnf(*RUN, "12", "--json")
    assert typo.returncode == 3, typo.stderr
    report = json.loads(typo.stdout)
    assert report["outcome"] == "no_clients"
    assert "stream 12 has no clients (streams with clients: 1, 2)" in report["message"]
    assert "stream 12 has no clients" in typo.stderr  # the warning in the cron log
    assert project.fnf(*RUN, "2").returncode == 0
    health = project.fnf("health")
    assert health.returncode == 1
    assert health.stdout.splitlines() == [f"lead_scoring stream 12: {report['message']}"]
    history = project.fnf("history")
    assert "no_clients" in history.stdout


def test_alerts_with_no_channel_are_recorded_as_not_sent(project: Project) -> None:
    project.clients([{"id": "bad", "name": "Bad", "stream": 1, "mode": "fail"}])
    run = project.fnf(*RUN, "1", "--json")
    assert run.returncode == 0, run.stderr
    (entry,) = project.status()["runs"]
    assert entry["alerts"].startswith("client_failed (not sent: no channel configured")
    assert "sent at once" not in entry["alerts"]


def test_quarantined_clients_are_counted_as_skipped_everywhere(project: Project) -> None:
    clients(project)
    env = {"FNF_QUARANTINE_AFTER": "1"}
    first = project.fnf(*RUN, "1", "--client-timeout", "0.5s", "--json", env=env)
    assert json.loads(first.stdout)["timed_out"] == 1, first.stderr
    again = project.fnf(*RUN, "1", "--new-sweep", "--json", env=env)
    report = json.loads(again.stdout)
    assert (report["completed"], report["skipped"], report["remaining"]) == (2, 1, 0)
    assert "skipped 1 quarantined client(s): slow" in report["message"]
    latest = project.status()["runs"][0]
    assert latest["skipped"] == 1 and "quarantined client(s): slow" in latest["message"]
    history = project.fnf("history", env={"COLUMNS": "80"})
    lines = history.stdout.splitlines()
    header = next(line for line in lines if "outcome" in line)
    assert header.split("┃")[-2].strip() == "skip", "the skip column fits 80 columns"
    assert lines[lines.index(header) + 2].split("│")[-2].strip() == "1"
    plain = project.fnf(*RUN, "1", "--new-sweep", env=env)
    assert "1 skipped" in plain.stdout
