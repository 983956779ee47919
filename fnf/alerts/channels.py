"""The channels: SendGrid and SMTP email, Slack, a signed JSON webhook (monitors: ``monitors``).

Each ``send`` delivers one message or raises, and gives up within its timeout. URLs and keys are
secrets (a Slack webhook URL is a credential): they never appear in a log line or an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from fnf.alerts.base import Message

log = logging.getLogger("fnf.alerts")

SIGNATURE_HEADER = "X-Fnf-Signature"
"""``sha256=<hex>``: HMAC-SHA256 of the request body with ALERT_WEBHOOK_SECRET."""


class DeliveryError(Exception):
    pass


def _request(method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"no answer: {getattr(exc, 'reason', exc)}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")
    return status


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    return _request("POST", url, body, headers, timeout)


def _get(url: str, timeout: float) -> int:
    return _request("GET", url, None, {}, timeout)


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, default=str).encode()


class SendGrid:
    name = "sendgrid"

    def __init__(self, api_key: str, recipients: list[str], sender: str, url: str) -> None:
        self._key, self.recipients, self.sender, self._url = api_key, recipients, sender, url

    def send(self, message: Message, timeout: float) -> None:
        body = {
            "personalizations": [{"to": [{"email": r} for r in self.recipients]}],
            "from": {"email": self.sender},
            "subject": message.subject,
            "content": [{"type": "text/plain", "value": message.text}],
        }
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        _post(self._url, _json(body), headers, timeout)


class Smtp:
    """``smtp://user:pass@host:587`` (STARTTLS when offered; required to send a password beyond
    loopback) or ``smtps://user:pass@host:465`` (TLS from the start)."""

    name = "smtp"

    def __init__(self, url: str, recipients: list[str], sender: str) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.tls else 587)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self.recipients, self.sender = recipients, sender

    def send(self, message: Message, timeout: float) -> None:
        email = EmailMessage()
        email["Subject"] = message.subject
        email["From"] = self.sender
        email["To"] = ", ".join(self.recipients)
        email.set_content(message.text)
        try:
            if self.tls:
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=timeout)
            with server:
                server.ehlo()
                if not self.tls and server.has_extn("starttls"):
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                elif not self.tls and self._user and self.host not in ("127.0.0.1", "localhost", "::1"):
                    raise DeliveryError(
                        f"{self.host} does not offer STARTTLS: refusing to send the password in clear; use smtps://"
                    )
                if self._user:
                    server.login(self._user, self._password or "")
                server.send_message(email)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}: {_smtp_reason(exc)}") from None


def _smtp_reason(exc: BaseException) -> str:
    code = getattr(exc, "smtp_code", None)
    return f"{code}" if code else str(exc)[:120]


class Slack:
    name = "slack"

    def __init__(self, url: str) -> None:
        self._url = url

    def send(self, message: Message, timeout: float) -> None:
        text = f"*{message.subject}*\n{message.text}"
        _post(self._url, _json({"text": text}), {"Content-Type": "application/json"}, timeout)


class Webhook:
    """A JSON POST of the message; with a secret, signed so that the receiver can trust it."""

    name = "webhook"

    def __init__(self, url: str, secret: str | None) -> None:
        self._url, self._secret = url, secret

    def send(self, message: Message, timeout: float) -> None:
        body = _json({"subject": message.subject, "text": message.text, **message.data})
        headers = {"Content-Type": "application/json"}
        if self._secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self._secret, body)
        _post(self._url, body, headers, timeout)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
