"""Alerts and monitoring: channels configured by environment, a policy that never drowns anyone."""

from __future__ import annotations

from fnf.alerts.base import Alert, AlertKind, Channel, Delivery, Dispatcher, Message, alert_message
from fnf.alerts.channels import SendGrid, Slack, Smtp, Webhook
from fnf.alerts.monitors import Monitor, monitor_for
from fnf.alerts.policy import Alerter
from fnf.clock import Clock
from fnf.config import AlertSettings, Settings


def channels_for(settings: AlertSettings) -> list[Channel]:
    found: list[Channel] = []
    if settings.sendgrid_key:
        found.append(SendGrid(settings.sendgrid_key, list(settings.recipients), settings.sender, settings.sendgrid_url))
    if settings.smtp_url:
        found.append(Smtp(settings.smtp_url, list(settings.recipients), settings.sender))
    if settings.slack_url:
        found.append(Slack(settings.slack_url))
    if settings.webhook_url:
        found.append(Webhook(settings.webhook_url, settings.webhook_secret))
    return found


def alerter_for(settings: Settings, clock: Clock) -> Alerter:
    """The run's alerter. With no channel configured it still records alerts on clients and runs."""
    config = settings.alerts
    monitor = monitor_for(config.ping_url, config.ping_kind, timeout=config.timeout) if config.ping_url else None
    return Alerter(settings, Dispatcher(channels_for(config), budget=config.timeout), monitor, clock)


__all__ = [
    "Alert",
    "AlertKind",
    "Alerter",
    "Channel",
    "Delivery",
    "Dispatcher",
    "Message",
    "Monitor",
    "alert_message",
    "alerter_for",
    "channels_for",
    "monitor_for",
]
