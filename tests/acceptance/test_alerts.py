"""Alerts through the real CLI, delivered to real servers on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from acceptance.conftest import Project
from alert_servers import Receiver, SmtpServer, http_receiver, smtp_server
from known_secrets import PING_TOKEN, SENDGRID_KEY, SLACK_PATH, WEBHOOK_SECRET
from processes import wait_until

from fnf.alerts.channels import SIGNATURE_HEADER

SECRETS = (SENDGRID_KEY, WEBHOOK_SECRET, SLACK_PATH, PING_TOKEN)


@dataclass
class Servers:
    sendgrid: Receiver
    slack: Receiver
    webhook: Receiver
    monitor: Receiver
    smtp: SmtpServer

    def env(self) -> dict[str, str]:
        return {
            "ALERT_EMAIL": "ops@example.com",
            "ALERT_FROM": "fnf@example.com",
            "SENDGRID_API_KEY": SECRETS[0],
            "SENDGRID_API_URL": self.sendgrid.url + "/v3/mail/send",
            "SMTP_URL": self.smtp.url,
            "SLACK_WEBHOOK_URL": f"{self.slack.url}/services/{SECRETS[2]}",
            "ALERT_WEBHOOK_URL": self.webhook.url + "/fnf",
            "ALERT_WEBHOOK_SECRET": SECRETS[1],
            "FNF_PING_URL": f"{self.monitor.url}/{SECRETS[3]}/{{type}}-{{stream}}",
            "FNF_ALERT_TIMEOUT_SECONDS": "2",
        }


@pytest.fixture
def servers() -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(
            stack.enter_context(http_receiver(status=202)),
            stack.enter_context(http_receiver()),
            stack.enter_context(http_receiver()),
            stack.enter_context(http_receiver()),
            stack.enter_context(smtp_server()),
        )


ROWS = [
    {"id": "slow", "name": "Slow Co", "stream": 1, "mode": "hang"},
    {"id": "broken", "name": "Broken Ltd", "stream": 1, "mode": "fail"},
    {"id": "fine", "name": "Fine Inc", "stream": 1, "mode": "ok"},
]


def test_every_channel_gets_the_alerts_naming_the_client_and_the_pings_bracket_the_run(
    project: Project, servers: Servers
) -> None:
    project.clients(ROWS)
    result = project.fnf(
        "-v", "run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "1s", "--json", env=servers.env()
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    subjects = [m["Subject"] for m in servers.smtp.inbox.messages]
    assert subjects == [
        "[fnf] lead_scoring stream 1: client timed out: Slow Co (slow)",
        "[fnf] lead_scoring stream 1: client failed: Broken Ltd (broken)",
    ]
    assert [json.loads(r.body)["subject"] for r in servers.sendgrid.requests] == subjects
    assert all(
        "Slow Co" in json.loads(r.body)["text"] or "Broken" in json.loads(r.body)["text"]
        for r in servers.slack.requests
    )
    for request in servers.webhook.requests:
        signature = "sha256=" + hmac.new(SECRETS[1].encode(), request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], signature)
    rid = str(uuid.UUID(report["run_id"]))
    pings = [(r.path.rsplit("/", 2)[-2:], r.query["rid"][0], r.query["create"]) for r in servers.monitor.requests]
    assert pings == [(["lead_scoring-1", "start"], rid, ["1"]), (["lead_scoring-1", "0"], rid, ["1"])]
    end = servers.monitor.requests[1].body.decode()
    assert end.startswith(report["job_id"] + " completed") and "Slow Co" in end, "summary, then the log's tail"
    jobs = {c["id"]: c["jobs"]["lead_scoring"] for c in project.status()["clients"]}
    assert (jobs["slow"]["last_alert_type"], jobs["broken"]["last_alert_type"]) == ("client_timeout", "client_failed")
    assert jobs["fine"]["last_alert_type"] is None and jobs["slow"]["last_alert_time"]
    assert project.status()["runs"][0]["alerts"] == "client_timeout, client_failed (2 sent at once)"
    everything = result.stderr + "".join(
        r.body.decode() for s in (servers.sendgrid, servers.slack, servers.webhook) for r in s.requests
    )
    assert not any(secret in everything for secret in SECRETS)


def test_channels_that_are_down_or_hang_never_delay_the_run_or_change_its_exit_code(project: Project) -> None:
    project.clients(ROWS)
    with http_receiver("hang") as hanging, http_receiver("fail") as failing:
        env = {
            "SLACK_WEBHOOK_URL": hanging.url + "/services/" + SECRETS[2],
            "ALERT_WEBHOOK_URL": failing.url,
            "ALERT_EMAIL": "ops@example.com",
            "SMTP_URL": "smtp://127.0.0.1:9",
            "FNF_PING_URL": hanging.url + "/" + SECRETS[3],
            "FNF_ALERT_TIMEOUT_SECONDS": "1",
        }
        started = time.monotonic()
        result = project.fnf(
            "run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "1s", "--job-timeout", "6s", env=env
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 25, f"took {elapsed:.1f} s; each hanging channel holds its request for 30 s"
    assert "alert not delivered on slack" in result.stderr
    assert not any(secret in result.stderr for secret in SECRETS)
    statuses = {c["id"]: c["jobs"]["lead_scoring"]["status"] for c in project.status()["clients"]}
    assert statuses == {"slow": "CLIENT_TIMEOUT_KILLED", "broken": "FAILED", "fine": "COMPLETED"}


def test_alerts_test_reports_each_channel(project: Project, servers: Servers) -> None:
    ok = project.fnf("alerts", "test", env=servers.env())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [line.split()[0] for line in ok.stdout.splitlines()] == ["sendgrid", "smtp", "slack", "webhook", "ping"]
    assert "test alert" in servers.smtp.inbox.messages[0]["Subject"]
    with http_receiver("fail") as failing:
        bad = project.fnf("alerts", "test", "--json", env={**servers.env(), "ALERT_WEBHOOK_URL": failing.url})
    assert bad.returncode == 1
    results = {r["channel"]: r for r in json.loads(bad.stdout)}
    assert results["webhook"] == {"channel": "webhook", "ok": False, "error": "HTTP 500"}
    assert results["slack"]["ok"] is True
    none = project.fnf("alerts", "test")
    assert none.returncode == 2 and "no alert channel is configured" in none.stderr


def test_quarantine_after_consecutive_timeouts_then_release_shown_in_status(project: Project) -> None:
    project.clients(ROWS)
    env = {"FNF_QUARANTINE_AFTER": "2"}
    for _ in range(2):
        assert project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "0.5s", env=env).returncode == 0
    job = project.job("slow")
    assert job["quarantined"] is True and job["timeouts_in_row"] == 2
    stream = project.status()["streams"][0]
    assert stream["quarantined"] == 1
    table = project.fnf("status")
    assert "QUARANTINED" in table.stdout
    before = job["last_run_date"]
    project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "0.5s", env=env)
    assert project.job("slow")["last_run_date"] == before, "a quarantined client is skipped"
    released = project.fnf("clients", "release", "slow")
    assert released.returncode == 0 and "released: slow (lead_scoring)" in released.stdout
    assert project.job("slow")["quarantined"] is False
    assert "QUARANTINED" not in project.fnf("status").stdout
    project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "0.5s", "--new-sweep", env=env)
    again = project.job("slow")
    assert again["last_run_date"] != before and again["timeouts_in_row"] == 1 and not again["quarantined"]
    unknown = project.fnf("clients", "release", "nope")
    assert unknown.returncode == 2 and "no client has id 'nope'" in unknown.stderr


def test_an_interrupted_run_pings_fail_with_its_run_id(project: Project) -> None:
    project.clients([{"id": "long", "name": "Long", "stream": 1, "mode": "ok", "seconds": 30}])
    with http_receiver() as monitor:
        proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json", env={"FNF_PING_URL": monitor.url + "/p"})
        wait_until(lambda: project.pids(), 20)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143
    rid = json.loads(out)["run_id"]
    rid = str(uuid.UUID(rid))
    assert [(r.path, r.query["rid"][0]) for r in monitor.requests] == [("/p/start", rid), ("/p/143", rid)]
    assert "interrupted" in monitor.requests[1].body.decode()


def test_a_slow_channel_never_holds_up_the_deadlines_of_clients_in_flight(project: Project) -> None:
    """The webhook holds the first alert until the test sees the other client's deadline kept:
    alerts go out beside the run's loop, and are flushed (and delivered) before the run exits."""
    project.clients(
        [
            {"id": "broken", "name": "Broken Ltd", "stream": 1, "mode": "fail"},
            {"id": "slow", "name": "Slow Co", "stream": 1, "mode": "hang"},
        ]
    )
    with http_receiver("hold") as held:
        env = {"ALERT_WEBHOOK_URL": held.url, "FNF_ALERT_TIMEOUT_SECONDS": "90"}
        proc = project.popen(
            "run", "-t", "lead_scoring", "-s", "1", "--concurrency", "2", "--client-timeout", "2s", env=env
        )
        try:
            wait_until(lambda: held.requests, 30)  # the alert about "broken" is held by the channel
            wait_until(lambda: project.job("slow")["status"] == "CLIENT_TIMEOUT_KILLED", 30)
        finally:
            held.release.set()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    bodies = " ".join(r.body.decode() for r in held.requests)
    assert "broken" in bodies and "slow" in bodies  # both alerts delivered before the run exited
    assert "not delivered" not in stderr


def test_a_monitor_url_that_cannot_be_parsed_is_refused_before_the_run(project: Project) -> None:
    project.clients(ROWS[1:])
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env={"FNF_PING_URL": "http://[::1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "FNF_PING_URL (from the environment) is not a valid URL (Invalid IPv6 URL)" in result.stderr
    assert project.ledger() == []
