"""Alert channels' and monitors' settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fnf.config.values import _setting, _url
from fnf.errors import ConfigError


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go. URLs and keys are secrets: kept out of repr, logs and messages."""

    recipients: tuple[str, ...] = ()
    sender: str = ""
    sendgrid_key: str | None = field(default=None, repr=False)
    sendgrid_url: str = "https://api.sendgrid.com/v3/mail/send"
    smtp_url: str | None = field(default=None, repr=False)
    slack_url: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    ping_url: str | None = field(default=None, repr=False)
    ping_kind: str = "auto"
    """How to speak to the monitor at ping_url: healthchecks, cronitor, or auto (by its host)."""
    quiet_period: float = 6 * 3600.0
    """A client alerted for the same thing within this many seconds is not alerted again."""
    timeout: float = 5.0
    """The most one alert may delay a run, all channels together."""

    @property
    def channel_names(self) -> tuple[str, ...]:
        names = []
        if self.sendgrid_key:
            names.append("sendgrid")
        if self.smtp_url:
            names.append("smtp")
        if self.slack_url:
            names.append("slack")
        if self.webhook_url:
            names.append("webhook")
        return tuple(names)


def _alerts(values: Mapping[str, str], src: Callable[[str], str]) -> AlertSettings:
    def get(key: str) -> str | None:
        value = values.get(key, "").strip()
        return value or None

    recipients, sendgrid, smtp = _email(get, src)
    if smtp:
        _url("SMTP_URL", smtp, src, ("smtp", "smtps"), "smtp://user:pass@mail.example.com:587")
    slack, webhook, ping = get("SLACK_WEBHOOK_URL"), get("ALERT_WEBHOOK_URL"), get("FNF_PING_URL")
    if slack:
        _url("SLACK_WEBHOOK_URL", slack, src, ("https", "http"), "https://hooks.slack.com/services/...")
    if webhook:
        _url("ALERT_WEBHOOK_URL", webhook, src, ("https", "http"), "https://ops.example.com/fnf-alerts")
    if ping:
        _url("FNF_PING_URL", ping, src, ("https", "http"), "https://hc-ping.com/<uuid> or .../{type}-{stream}")
    kind = (get("FNF_PING_KIND") or "auto").lower()
    if kind not in ("auto", "healthchecks", "cronitor"):
        raise ConfigError(
            f"FNF_PING_KIND={kind!r} ({src('FNF_PING_KIND')}) is not a monitor fnf speaks to: use healthchecks, "
            "cronitor, or leave it unset to tell by FNF_PING_URL's host"
        )
    secret = get("ALERT_WEBHOOK_SECRET")
    if secret and not webhook:
        raise ConfigError("ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not: set the URL it signs for")
    sendgrid_url = _url("SENDGRID_API_URL", values["SENDGRID_API_URL"].strip(), src, ("https", "http"), "the default")
    quiet = 60 * _setting(values, src, "FNF_ALERT_QUIET_MINUTES", unit="minutes", allow_zero=True)
    timeout = _setting(values, src, "FNF_ALERT_TIMEOUT_SECONDS", unit="seconds")
    return AlertSettings(
        recipients=recipients,
        sender=get("ALERT_FROM") or "fnf@localhost",
        sendgrid_key=sendgrid,
        sendgrid_url=sendgrid_url,
        smtp_url=smtp,
        slack_url=slack,
        webhook_url=webhook,
        webhook_secret=secret,
        ping_url=ping,
        ping_kind=kind,
        quiet_period=quiet,
        timeout=timeout,
    )


def _email(
    get: Callable[[str], str | None], src: Callable[[str], str]
) -> tuple[tuple[str, ...], str | None, str | None]:
    """(recipients, SendGrid key, SMTP URL): email needs an address and one way to send."""
    recipients = tuple(r.strip() for r in (get("ALERT_EMAIL") or "").split(",") if r.strip())
    for address in recipients:
        if "@" not in address:
            raise ConfigError(
                f"ALERT_EMAIL ({src('ALERT_EMAIL')}) has {address!r}, which is not an email address: "
                "use one address or several separated by commas"
            )
    sendgrid, smtp = get("SENDGRID_API_KEY"), get("SMTP_URL")
    if (sendgrid or smtp) and not recipients:
        key = "SENDGRID_API_KEY" if sendgrid else "SMTP_URL"
        raise ConfigError(f"{key} is set but ALERT_EMAIL is not: set ALERT_EMAIL to the address(es) to alert")
    if recipients and not (sendgrid or smtp):
        raise ConfigError(
            "ALERT_EMAIL is set but no way to send email is: set SENDGRID_API_KEY, or SMTP_URL "
            "(smtp://user:pass@host:587 or smtps://user:pass@host:465)"
        )
    return recipients, sendgrid, smtp
