"""Fire-and-forget: fnf run --detach, fnf stop, and the fnf serve HTTP trigger."""

from __future__ import annotations

import json
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
from acceptance.conftest import Project
from known_secrets import CRON_SECRET
from processes import wait_until


def rows(count: int, seconds: float) -> list[dict[str, object]]:
    return [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": seconds} for i in range(count)]


def live_run(project: Project) -> dict[str, object] | None:
    result: dict[str, object] | None = project.status("--type", "lead_scoring")["streams"][0]["live_run"]
    return result


def test_detach_returns_once_the_run_holds_its_stream_and_the_run_completes_in_the_background(
    project: Project,
) -> None:
    project.clients(rows(3, seconds=0.5))
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--detach", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["state"] == "started"
    wait_until(lambda: len(project.ledger()) == 3 and live_run(project) is None, 30)
    run = next(r for r in json.loads(project.fnf("history", "--json").stdout) if r["run_id"] == info["run_id"])
    assert run["outcome"] == "completed" and run["job_id"] == info["job_id"]
    with open(info["log"]) as log:
        assert "c2 (C2) COMPLETED" in log.read()


def test_stop_ends_a_background_run_cleanly_and_the_next_run_resumes(project: Project) -> None:
    project.clients(rows(4, seconds=2.0))
    info = json.loads(project.fnf("run", "-t", "lead_scoring", "-s", "1", "--detach", "--json").stdout)
    wait_until(project.pids, 20)
    stopped = project.fnf("stop", info["run_id"][:8], "--wait", "20")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    run = project.status()["runs"][0]
    assert (run["run_id"], run["outcome"], run["stopped_at"]) == (info["run_id"], "interrupted", "c0")
    assert run["message"].startswith("interrupted by an operator (fnf stop); stopped at client c0"), run["message"]
    job = project.job("c0")
    assert job["status"] == "JOB_TIMEOUT_KILLED"
    assert job["message"].startswith("run interrupted by an operator (fnf stop);"), job["message"]
    missing = project.fnf("stop", "deadbeefdeadbeef")
    assert missing.returncode == 2 and "no live run has id" in missing.stderr


SECRET = CRON_SECRET


def test_serve_starts_runs_for_authorized_requests_only(project: Project) -> None:
    project.clients([*rows(2, seconds=0.2), {"id": "slow", "name": "S", "stream": 2, "mode": "ok", "seconds": 5}])
    proc = project.popen("serve", "--port", "0", env={"CRON_SECRET": SECRET})
    assert proc.stdout is not None
    base = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    auth = {"Authorization": f"Bearer {SECRET}"}
    url = f"{base}/api/batch-process-v2"
    assert requests.get(f"{base}/health", timeout=5).json() == {"ok": True}
    assert requests.post(url, params={"type": "lead_scoring", "stream": 1}, timeout=5).status_code == 401
    wrong = requests.post(
        url, params={"type": "lead_scoring", "stream": 1}, headers={"Authorization": "Bearer x"}, timeout=5
    )
    assert wrong.status_code == 401
    bad_type = requests.post(url, params={"type": "scoring", "stream": 1}, headers=auth, timeout=5)
    assert bad_type.status_code == 400 and "not a job type" in bad_type.json()["error"]
    bad_stream = requests.post(url, params={"type": "lead_scoring", "stream": "zero"}, headers=auth, timeout=5)
    assert bad_stream.status_code == 400 and "not a stream" in bad_stream.json()["error"]
    accepted = requests.post(url, params={"type": "lead_scoring", "stream": 1}, headers=auth, timeout=5)
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["message"] == "Job started" and body["jobId"].startswith("job_lead_stream1_")

    def outcome() -> object:
        answer = requests.get(f"{base}/api/runs/{body['runId']}", headers=auth, timeout=5)
        return answer.status_code == 200 and answer.json()["outcome"] == "completed"

    wait_until(outcome, 30)
    assert sorted(project.ledger()) == ["c0", "c1"]
    slow = requests.post(url, params={"type": "lead_scoring", "stream": 2}, headers=auth, timeout=5)
    assert slow.status_code == 202
    wait_until(lambda: project.status("--stream", "2", "--type", "lead_scoring")["streams"][0]["live_run"], 20)
    busy = requests.post(url, params={"type": "lead_scoring", "stream": 2}, headers=auth, timeout=5)
    assert busy.status_code == 409 and busy.json()["holder"]["runId"] == slow.json()["runId"]
    assert requests.get(f"{base}/api/runs/nope", headers=auth, timeout=5).status_code == 404
    assert requests.get(f"{base}/api/runs/{body['runId']}", timeout=5).status_code == 401
    proc.terminate()
    proc.communicate(timeout=10)


def test_detach_on_a_stream_without_clients_says_so_instead_of_started(project: Project) -> None:
    project.clients(rows(1, seconds=0.0))
    result = project.fnf("run", "-t", "lead_scoring", "-s", "4", "--detach")
    assert result.returncode == 3
    assert "did not start its work (no_clients)" in result.stderr and "streams with clients: 1" in result.stderr


def serve(project: Project, **env: str) -> tuple[subprocess.Popen[str], str]:
    proc = project.popen("serve", "--port", "0", env={"CRON_SECRET": SECRET, **env})
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip().rsplit(" ", 1)[-1]


def test_simultaneous_triggers_start_one_run_and_every_other_answer_says_busy(project: Project) -> None:
    project.clients(rows(2, seconds=3.0))
    proc, base = serve(project)
    auth = {"Authorization": f"Bearer {SECRET}"}
    url = f"{base}/api/batch-process-v2"

    def post(_: int) -> requests.Response:
        return requests.post(url, params={"type": "lead_scoring", "stream": 1}, headers=auth, timeout=120)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(12)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(202) == 1 and set(codes) <= {202, 409, 429}, codes
    (accepted,) = [a.json() for a in answers if a.status_code == 202]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["holder"]["runId"] == accepted["runId"]
    wait_until(lambda: sorted(project.ledger()) == ["c0", "c1"], 60)
    runs = json.loads(project.fnf("history", "--json").stdout)
    assert [r["run_id"] for r in runs if r["outcome"] != "busy"] == [accepted["runId"]]
    proc.terminate()
    proc.communicate(timeout=10)


def test_the_trigger_answers_what_happened_for_every_bad_request(project: Project) -> None:
    project.clients(rows(1, seconds=0.0))
    proc, base = serve(project, FNF_HANDLER_POST_SCORING="", FNF_SERVE_SOCKET_TIMEOUT_SECONDS="1")
    auth = {"Authorization": f"Bearer {SECRET}"}
    url = f"{base}/api/batch-process-v2"

    def post(run_type: str, stream: str) -> requests.Response:
        return requests.post(url, params={"type": run_type, "stream": stream}, headers=auth, timeout=60)

    no_handler = post("post_scoring", "1")
    assert no_handler.status_code == 422 and "FNF_HANDLER_POST_SCORING" in no_handler.json()["error"]
    empty = post("lead_scoring", "99")
    assert empty.status_code == 422 and "streams with clients: 1" in empty.json()["error"]
    for stream in ("²", "99999999999999999999", "-1", ""):
        answer = post("lead_scoring", stream)
        assert answer.status_code == 400 and "not a stream" in answer.json()["error"], stream
    other = requests.get(f"{base}/api/other", headers=auth, timeout=5)
    assert other.status_code == 404 and "no such endpoint" in other.json()["error"]
    assert requests.get(url, headers=auth, timeout=5).status_code == 405
    put = requests.put(url, headers=auth, timeout=5)
    assert put.status_code == 405 and put.headers["Allow"] == "GET, POST" and "not allowed" in put.json()["error"]
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=30) as silent:
        assert silent.recv(1) == b"", "a connection that sends nothing is closed"
    assert project.ledger() == [] and json.loads(project.fnf("history", "--json").stdout)[0]["outcome"] == "no_clients"
    proc.terminate()
    proc.communicate(timeout=10)


def test_serve_refuses_to_start_without_a_secret(project: Project) -> None:
    project.clients(rows(1, seconds=0.0))
    result = project.fnf("serve", "--port", "0", timeout=20)
    assert result.returncode == 2 and "fnf serve needs CRON_SECRET" in result.stderr
