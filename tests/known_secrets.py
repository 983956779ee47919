"""Every secret value the suite hands to fnf. None may ever appear in fnf's output: each command
the acceptance tests run has its stdout and stderr scanned for them (``Project.fnf``/``popen``),
and so are the logs of background runs."""

from __future__ import annotations

from airtable_helpers import TOKEN

SENDGRID_KEY = "SG.very-secret-key"
WEBHOOK_SECRET = "hook-secret-value"
SLACK_PATH = "T000/B000/slacksecret"
PING_TOKEN = "pingsecret-uuid"
CRON_SECRET = "cron-secret-value-0123456789"

TEST_SECRETS = (TOKEN, SENDGRID_KEY, WEBHOOK_SECRET, SLACK_PATH, PING_TOKEN, CRON_SECRET)


def leaked(text: str) -> list[str]:
    """The test secrets found in ``text``."""
    return [secret for secret in TEST_SECRETS if secret in text]
