"""Each alert channel against a real server on loopback; the fan-out against dead ones."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from alert_servers import http_receiver, smtp_server

from fnf.alerts import Alert, AlertKind, Dispatcher, Pinger, alert_message
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


def test_pings_follow_the_healthchecks_convention() -> None:
    with http_receiver() as monitor:
        pinger = Pinger(monitor.url + "/ping/abc-{type}-{stream}", timeout=2)
        assert pinger.ping("start", "lead_scoring", 3, "r-1")
        assert pinger.ping("success", "lead_scoring", 3, "r-1", "3 completed")
        assert pinger.ping("fail", "lead_scoring", 3, "r-1", "store down")
    paths = [(r.path, r.query["rid"]) for r in monitor.requests]
    assert paths == [
        ("/ping/abc-lead_scoring-3/start", ["r-1"]),
        ("/ping/abc-lead_scoring-3", ["r-1"]),
        ("/ping/abc-lead_scoring-3/fail", ["r-1"]),
    ]
    assert monitor.requests[2].body == b"store down"


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
    assert elapsed < 1.5
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
