"""``fnf alerts``: check that every configured alert channel delivers."""

from __future__ import annotations

import json

import typer

from fnf.cli.common import JsonOption, settings
from fnf.errors import EXIT_OK, EXIT_RUN_FAILED, UsageError

alerts_app = typer.Typer(help="Alert channels. Example: fnf alerts test", no_args_is_help=True)


@alerts_app.command("test")
def test(as_json: JsonOption = False) -> int:
    """Send a test message on every configured channel (and ping the monitor); report each; exit 1 if any failed.

    Channels: SENDGRID_API_KEY or SMTP_URL (with ALERT_EMAIL), SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL,
    FNF_PING_URL.

    Example: fnf alerts test
    """
    from fnf import commands

    results = commands.send_test_alerts(settings())
    if not results:
        raise UsageError(
            "no alert channel is configured: set SENDGRID_API_KEY or SMTP_URL (with ALERT_EMAIL), "
            "SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL or FNF_PING_URL"
        )
    if as_json:
        typer.echo(json.dumps([{"channel": r.channel, "ok": r.ok, "error": r.error} for r in results], indent=2))
    else:
        for result in results:
            typer.echo(f"{result.channel:<9} {'delivered' if result.ok else 'FAILED: ' + (result.error or '?')}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_RUN_FAILED
