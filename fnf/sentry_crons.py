"""Sentry Cron Monitors, for teams that already watch their jobs in Sentry.

With ``SENTRY_DSN`` set (and ``pip install 'fnf[sentry]'``), each run that holds its stream checks
in ``in_progress`` to the monitor ``fnf-<type>-<stream>``, then ``ok`` or ``error`` with its
duration. ``SENTRY_CRON_SCHEDULE`` (a crontab line, such as ``0 * * * *``) lets Sentry create the
monitor on its first check-in. sentry-sdk sends from its own thread and fnf waits at most
``FLUSH_SECONDS`` for it at the end: a Sentry that is down never holds a run up or changes its
exit code. Only check-ins are sent: fnf does not install Sentry's error or logging integrations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fnf.errors import ConfigError
from fnf.models import Outcome
from fnf.run.observers import SilentObserver

log = logging.getLogger("fnf.sentry")

FLUSH_SECONDS = 2.0
SUCCESS = (Outcome.COMPLETED, Outcome.STOPPED_AT_DEADLINE)


@dataclass(frozen=True)
class SentrySettings:
    dsn: str | None = None
    schedule: str | None = None


def require_sdk(settings: SentrySettings) -> None:
    if not settings.dsn:
        return
    try:
        import sentry_sdk  # noqa: F401
    except ImportError:
        raise ConfigError(
            "SENTRY_DSN is set, but sentry-sdk is not installed: pip install 'fnf[sentry]' "
            "(or unset SENTRY_DSN to run without Sentry check-ins)"
        ) from None


class SentryCrons(SilentObserver):
    """Checks a run in when it holds its stream; ``finish`` checks it out."""

    def __init__(self, settings: SentrySettings, run_type: str, stream: int) -> None:
        self.settings = settings
        self.slug = f"fnf-{run_type}-{stream}"
        self.check_in: str | None = None

    def sweep_planned(self, total: int) -> None:
        try:
            import sentry_sdk
            from sentry_sdk.crons import capture_checkin

            sentry_sdk.init(dsn=self.settings.dsn, default_integrations=False, auto_enabling_integrations=False)
            config: Any = (
                {"schedule": {"type": "crontab", "value": self.settings.schedule}} if self.settings.schedule else None
            )
            self.check_in = capture_checkin(monitor_slug=self.slug, status="in_progress", monitor_config=config)
        except Exception as exc:  # never the run's business
            log.warning("could not check in to Sentry: %s", exc)

    def finish(self, outcome: Outcome, seconds: float) -> None:
        if self.check_in is None:
            return
        try:
            import sentry_sdk
            from sentry_sdk.crons import capture_checkin

            status = "ok" if outcome in SUCCESS else "error"
            capture_checkin(monitor_slug=self.slug, check_in_id=self.check_in, status=status, duration=seconds)
            sentry_sdk.flush(timeout=FLUSH_SECONDS)
        except Exception as exc:
            log.warning("could not check out of Sentry: %s", exc)
