"""Every setting fnf reads, so that a name it does not know (a typo) is said, not ignored."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from fnf.models import JobType

PREFIXES = ("FNF_", "MAX_", "AIRTABLE_", "ALERT_", "SENTRY_", "HEARTBEAT_")
"""Names that look like fnf's settings: one of them that fnf does not read is probably a typo."""

KNOWN: frozenset[str] = frozenset(
    {
        "AIRTABLE_API_KEY",
        "AIRTABLE_BASE_ID",
        "AIRTABLE_CLIENTS_TABLE",
        "AIRTABLE_ENDPOINT_URL",
        "AIRTABLE_RATE_LIMIT_WAIT_SECONDS",
        "AIRTABLE_REQUESTS_PER_SECOND",
        "AIRTABLE_RETRY_BUDGET_SECONDS",
        "AIRTABLE_RUNS_TABLE",
        "AIRTABLE_SLOT",
        "AIRTABLE_SWEEPS_TABLE",
        "AIRTABLE_TIMEOUT_SECONDS",
        "ALERT_EMAIL",
        "ALERT_FROM",
        "ALERT_WEBHOOK_SECRET",
        "ALERT_WEBHOOK_URL",
        "CRON_SECRET",
        "FNF_ALERT_QUIET_MINUTES",
        "FNF_ALERT_TIMEOUT_SECONDS",
        "FNF_CHILD_LOG_MAX_BYTES",
        "FNF_CIRCUIT_BREAKER_FAILURES",
        "FNF_CONCURRENCY",
        "FNF_DB",
        "FNF_DB_BUSY_SECONDS",
        "FNF_ENV_FILE",
        "FNF_KILL_GRACE_SECONDS",
        "FNF_LOG_DIR",
        "FNF_LOG_FORMAT",
        "FNF_METRICS_FILE",
        "FNF_PING_KIND",
        "FNF_PING_URL",
        "FNF_PUSHGATEWAY_URL",
        "FNF_QUARANTINE_AFTER",
        "FNF_RETRY_ATTEMPTS",
        "FNF_RETRY_BACKOFF_SECONDS",
        "FNF_SERVE_SOCKET_TIMEOUT_SECONDS",
        "FNF_STORE",
        "FNF_WRITE_BATCH",
        "HEARTBEAT_INTERVAL_MINUTES",
        "MAX_CLIENT_PROCESSING_MINUTES",
        "MAX_JOB_PROCESSING_HOURS",
        "SENDGRID_API_KEY",
        "SENDGRID_API_URL",
        "SENTRY_CRON_SCHEDULE",
        "SENTRY_DSN",
        "SLACK_WEBHOOK_URL",
        "SMTP_URL",
        *(f"FNF_{kind}_{t.value.upper()}" for kind in ("HANDLER", "COMMAND") for t in JobType),
    }
)

GIVEN_TO_CHILDREN = ("FNF_CLIENT_", "FNF_STREAM", "FNF_JOB_", "FNF_RUN_ID", "FNF_DEADLINE", "FNF_PROGRESS_FILE")
"""What fnf sets for each client's work: a run started by a client's work sees them, rightly."""


def unknown(names_from_file: Iterable[str], environ: Mapping[str, str], path: str) -> list[str]:
    """One warning per name that looks like a setting fnf does not read: every such name in the
    .env file, and those in the environment that are close to a real one (a typo)."""
    warnings = []
    for name, where, always in [(n, f"in {path}", True) for n in names_from_file] + [
        (n, "in the environment", False) for n in environ
    ]:
        if name in KNOWN or not name.startswith(PREFIXES) or name.startswith("AIRTABLE_FIELD_"):
            continue
        if name.startswith(GIVEN_TO_CHILDREN):
            continue
        close = difflib.get_close_matches(name, KNOWN, n=1, cutoff=0.8)
        if close or always:
            hint = f": did you mean {close[0]}?" if close else "; see README's Configuration for the names"
            warnings.append(f"{name} {where} is not a setting fnf reads, so it has no effect{hint}")
    return warnings
