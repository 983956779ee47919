"""Transient failures retried within the run, and the circuit breaker, through the real CLI."""

from __future__ import annotations

import json
from typing import Any

from acceptance.conftest import Project
from alert_servers import http_receiver
from processes import wait_until

RUN = ("run", "-t", "lead_scoring", "-s", "1", "--json")
SCRIPT = """#!/bin/sh
n=$(cat "tries.$1" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "tries.$1"
case "$1" in
  flaky) [ "$n" -le 2 ] && { echo "429 from the API" >&2; exit 75; } ;;
  stuck) echo "upstream timeout" >&2; exit 75 ;;
  once) [ "$n" -le 1 ] && exit 75 ;;
  slow) sleep 1 ;;
esac
echo "$1" >> done.log
echo '{"count": 1}'
"""


def _commands(project: Project, ids: list[str], **extra: str) -> dict[str, str]:
    (project.path / "work.sh").write_text(SCRIPT)
    project.clients([{"id": cid, "name": cid.upper(), "stream": 1} for cid in ids])
    return {
        "FNF_HANDLER_LEAD_SCORING": "",
        "FNF_COMMAND_LEAD_SCORING": "sh work.sh {client_id}",
        "FNF_RETRY_BACKOFF_SECONDS": "0.5",
        **extra,
    }


def _done(project: Project) -> list[str]:
    path = project.path / "done.log"
    return path.read_text().split() if path.exists() else []


def test_a_transient_failure_is_retried_while_other_clients_go_on(any_project: Project) -> None:
    project = any_project
    env = _commands(project, ["flaky", "a", "b", "c"])
    result = project.fnf(*RUN, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "completed" and report["completed"] == 4 and report["failed"] == 0
    assert (project.path / "tries.flaky").read_text().strip() == "3"
    done = _done(project)
    assert sorted(done) == ["a", "b", "c", "flaky"]
    assert done[0] != "flaky", "the slot was free while flaky waited: other clients went on"
    job = project.job("flaky")
    assert job["status"] == "COMPLETED" and job["failure_kind"] is None


def test_a_failure_that_never_passes_gives_up_after_its_attempts(project: Project) -> None:
    env = _commands(project, ["stuck", "a"])
    result = project.fnf(*RUN, env=env)
    assert result.returncode == 0, result.stderr
    job = project.job("stuck")
    assert job["status"] == "FAILED" and job["failure_kind"] == "transient"
    assert job["message"].startswith("[transient] gave up after 3 attempts: exited with code 75"), job["message"]
    assert "upstream timeout" in job["message"]
    assert (project.path / "tries.stuck").read_text().strip() == "3"
    assert json.loads(result.stdout)["failed"] == 1


def test_retries_can_be_switched_off(project: Project) -> None:
    env = _commands(project, ["once"], FNF_RETRY_ATTEMPTS="0")
    assert project.fnf(*RUN, env=env).returncode == 0
    job = project.job("once")
    assert (job["status"], job["message"]) == ("FAILED", "[transient] exited with code 75")


def test_a_retry_still_waiting_at_the_job_deadline_is_resumed_first_next_run(any_project: Project) -> None:
    project = any_project
    env = _commands(project, ["once", "slow"], FNF_RETRY_BACKOFF_SECONDS="600")
    first = project.fnf(*RUN, "--job-timeout", "20s", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["outcome"], report["stopped_at"]) == ("stopped_at_deadline", "once"), report
    job = project.job("once")
    assert job["status"] == "JOB_TIMEOUT_KILLED" and "resumes first next run" in job["message"]
    assert _done(project) == ["slow"]
    second = project.fnf(*RUN, env=env)
    assert second.returncode == 0, second.stderr
    assert _done(project) == ["slow", "once"]
    assert project.job("once")["status"] == "COMPLETED"


def test_a_retry_still_waiting_when_the_runner_is_killed_is_resumed_first_next_run(any_project: Project) -> None:
    project = any_project
    env = _commands(project, ["once", "slow"], FNF_RETRY_BACKOFF_SECONDS="600")
    runner = project.popen(*RUN, env=env)
    # once failed and waits for its retry; slow ran meanwhile, and its end is written while the run waits
    wait_until(lambda: project.job("slow")["status"] == "COMPLETED", 60)
    assert "retry 1 of" in project.job("once")["message"]
    runner.kill()  # kill -9 while once waits
    runner.communicate(timeout=60)
    assert project.job("once")["status"] == "RUNNING", "still the run's: its retry was to come"
    second = project.fnf(*RUN, env=env)
    assert second.returncode == 0, second.stderr
    assert _done(project) == ["slow", "once"], "once resumed; slow, done before the kill, not repeated"
    assert project.job("once")["status"] == "COMPLETED"
    assert (project.path / "tries.once").read_text().strip() == "2"


def _failing(project: Project, count: int, mode: str = "fail", seconds: float = 0) -> None:
    project.clients(
        [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": mode, "seconds": seconds} for i in range(count)]
    )


def _started(project: Project) -> list[str]:
    return [c["id"] for c in project.status()["clients"] if c["jobs"]["lead_scoring"]["status"] is not None]


def test_clients_failing_in_a_row_open_the_circuit_and_the_next_run_probes_with_one(project: Project) -> None:
    _failing(project, 10)
    env = {"FNF_CIRCUIT_BREAKER_FAILURES": "5"}
    with http_receiver() as webhook:
        first = project.fnf(*RUN, env={**env, "ALERT_WEBHOOK_URL": webhook.url})
        bodies: list[dict[str, Any]] = [json.loads(r.body) for r in webhook.requests]
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["outcome"] == "circuit_open" and report["stopped_at"] == "c5"
    assert "circuit open: 5 clients in a row failed" in report["message"]
    assert "c4: [crash] RuntimeError: upstream rejected C4" in report["message"]
    assert _started(project) == ["c0", "c1", "c2", "c3", "c4"], "the clients not started stay untouched"
    assert [b["kind"] for b in bodies if b.get("kind") == "circuit_open"] == ["circuit_open"]
    assert project.status()["runs"][0]["outcome"] == "circuit_open"
    health = project.fnf("health")
    assert health.returncode == 1 and "circuit open: 5 clients in a row failed" in health.stdout, health.stdout

    second = project.fnf(*RUN, "--concurrency", "3", env=env)
    assert second.returncode == 1
    report = json.loads(second.stdout)
    assert report["outcome"] == "circuit_open" and "first client of this run failed as well" in report["message"]
    assert _started(project) == ["c0", "c1", "c2", "c3", "c4", "c5"], "half-open: one client, then stop"

    _failing(project, 10, mode="ok", seconds=0.5)  # the upstream is back
    third = project.fnf(*RUN, "--concurrency", "3", env={**env, "FNF_TEST_SPANS": str(project.path / "spans")})
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["outcome"] == "completed"
    spans = sorted(
        (float(b), float(e), cid)
        for cid, b, e in (line.split() for line in (project.path / "spans").read_text().splitlines())
    )
    probe = spans[0]
    assert all(begin >= probe[1] for begin, _, _ in spans[1:]), "the probe ran alone"
    assert max(sum(1 for b, e, _ in spans if b <= t < e) for t, _, _ in spans) > 1, "then full concurrency"


def test_the_breaker_can_be_switched_off(project: Project) -> None:
    _failing(project, 6)
    result = project.fnf(*RUN, env={"FNF_CIRCUIT_BREAKER_FAILURES": "0"})
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert (report["outcome"], report["failed"]) == ("completed", 6)
