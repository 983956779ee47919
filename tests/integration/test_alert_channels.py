"""Each alert channel against a real server on loopback; the fan-out against dead ones."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from alert_servers import http_receiver, smtp_server

from fnf.alerts import Alert, AlertKind, Dispatcher, alert_message, monitor_for
from fnf.alerts.channels import SIGNATURE_HEADER, SendGrid, Slack, Smtp, Webhook

ALERT = Alert(
    AlertKind.CLIENT_TIMEOUT,
    "lead_scoring",
    2,
    "run-1",
    "job_lead_stream2_20250920_143022",
    datetime(2025, 9, 20, 14, 30, 22, tzinfo=UTC),
    client_id="rec42",
    client_name="O'Brien & Sons",
    limit="client limit of 10 minutes",
    detail="lead_scoring: exceeded the client limit of 10 minutes",
    next_step="tried again in the next sweep",
)
MESSAGE = alert_message(ALERT)


def test_sendgrid_gets_the_v3_mail_send_body_with_the_key_as_bearer() -> None:
    with http_receiver(status=202) as sendgrid:
        SendGrid("SG.secret-key", ["ops@example.com", "cto@example.com"], "fnf@example.com", sendgrid.url).send(
            MESSAGE, 5
        )
    (request,) = sendgrid.requests
    assert request.headers["Authorization"] == "Bearer SG.secret-key"
    body = json.loads(request.body)
    assert [t["email"] for t in body["personalizations"][0]["to"]] == ["ops@example.com", "cto@example.com"]
    assert body["from"] == {"email": "fnf@example.com"}
    assert "O'Brien & Sons (rec42)" in body["subject"]
    assert "client limit of 10 minutes" in body["content"][0]["value"]


def test_smtp_delivers_to_a_real_server() -> None:
    with smtp_server() as server:
        Smtp(server.url, ["ops@example.com"], "fnf@example.com").send(MESSAGE, 5)
    (email,) = server.inbox.messages
    assert email["Subject"] == "[fnf] lead_scoring stream 2: client timed out: O'Brien & Sons (rec42)"
    assert "Next: tried again in the next sweep." in email.get_payload()
    assert server.inbox.envelopes == [("fnf@example.com", ["ops@example.com"])]


def test_slack_gets_text_naming_the_client() -> None:
    with http_receiver() as slack:
        Slack(slack.url + "/services/T000/B000/secret").send(MESSAGE, 5)
    text = json.loads(slack.requests[0].body)["text"]
    assert "O'Brien & Sons (rec42)" in text and "lead_scoring stream 2" in text


def test_webhook_body_is_signed_and_the_signature_verifies() -> None:
    with http_receiver() as receiver:
        Webhook(receiver.url, "shh-secret").send(MESSAGE, 5)
    (request,) = receiver.requests
    expected = "sha256=" + hmac.new(b"shh-secret", request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)
    tampered = request.body.replace(b"rec42", b"rec43")
    assert not hmac.compare_digest(
        request.headers[SIGNATURE_HEADER], "sha256=" + hmac.new(b"shh-secret", tampered, hashlib.sha256).hexdigest()
    )
    data = json.loads(request.body)
    assert (data["kind"], data["client_id"], data["stream"]) == ("client_timeout", "rec42", 2)
    assert b"shh-secret" not in request.body


RUN_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
RID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_healthchecks_pings_carry_the_exit_code_the_summary_and_the_log_tail() -> None:
    with http_receiver() as monitor:
        check = "5f0c6f57-0d6c-4a47-9a2c-3c6d2a0b1e11"
        uuid_url = monitor_for(f"{monitor.url}/ping/{check}", timeout=2)
        assert uuid_url.kind == "healthchecks"
        assert uuid_url.started("lead_scoring", 3, RUN_ID)
        assert uuid_url.ended("lead_scoring", 3, RUN_ID, 0, "3 completed", "INFO c1 COMPLETED")
        slug = monitor_for(monitor.url + "/ping/KEY123/fnf-{type}-{stream}", timeout=2)
        assert slug.ended("post_scoring", 2, "not-a-uuid", 143, "interrupted by SIGTERM", "")
    got = [(r.method, r.path, r.query) for r in monitor.requests]
    assert got[:2] == [
        ("POST", f"/ping/{check}/start", {"rid": [RID]}),
        ("POST", f"/ping/{check}/0", {"rid": [RID]}),
    ]
    assert monitor.requests[1].body == b"3 completed\n\nINFO c1 COMPLETED"
    method, path, query = got[2]
    assert (method, path, query["create"]) == ("POST", "/ping/KEY123/fnf-post_scoring-2/143", ["1"])
    assert len(query["rid"][0]) == 36, "a run id that is not a UUID is mapped to one"


def test_cronitor_pings_use_its_telemetry_states() -> None:
    with http_receiver() as monitor:
        cronitor = monitor_for(monitor.url + "/p/API/fnf-{type}-{stream}", "cronitor", timeout=2)
        assert cronitor.started("lead_scoring", 1, RUN_ID)
        assert cronitor.ended("lead_scoring", 1, RUN_ID, 0, "3 completed", "tail")
        assert cronitor.ended("lead_scoring", 1, RUN_ID, 3, "stream 1 has no clients", "")
    assert {r.method for r in monitor.requests} == {"GET"}
    assert {r.path for r in monitor.requests} == {"/p/API/fnf-lead_scoring-1"}
    states = [(r.query["state"][0], r.query["series"][0], r.query.get("status_code")) for r in monitor.requests]
    assert states == [("run", RUN_ID, None), ("complete", RUN_ID, ["0"]), ("fail", RUN_ID, ["3"])]
    assert monitor.requests[2].query["message"] == ["stream 1 has no clients"]
    assert monitor_for("https://cronitor.link/p/KEY/job").kind == "cronitor", "told by the host"


def test_a_dead_or_hanging_channel_costs_at_most_the_budget_and_never_raises() -> None:
    with http_receiver("hang") as hanging, http_receiver("fail") as failing, http_receiver() as working:
        dispatcher = Dispatcher(
            [
                Slack(hanging.url),
                Webhook(failing.url, None),
                SendGrid("k", ["a@b.c"], "f@b.c", "http://127.0.0.1:9/refused"),
                Smtp("smtp://127.0.0.1:9", ["a@b.c"], "f@b.c"),
                _Named(Webhook(working.url, None), "working"),
            ],
            budget=1.0,
        )
        started = time.monotonic()
        results = dispatcher.send(MESSAGE)
        elapsed = time.monotonic() - started
    assert elapsed < 10  # a hanging channel holds its request for 30 s
    assert {r.channel: r.ok for r in results} == {
        "slack": False,
        "webhook": False,
        "sendgrid": False,
        "smtp": False,
        "working": True,
    }
    assert len(failing.requests) >= 2, "a failing channel is retried"
    assert len(working.requests) == 1


class _Named:
    def __init__(self, inner: Webhook, name: str) -> None:
        self.inner, self.name = inner, name

    def send(self, message: object, timeout: float) -> None:
        self.inner.send(message, timeout)  # type: ignore[arg-type]
