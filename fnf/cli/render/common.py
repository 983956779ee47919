"""What every screen shares: the console, colours that carry meaning, untrusted text made safe."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape

from fnf.models import shown

STATUS_STYLE = {
    "COMPLETED": "green",
    "STARTED": "cyan",
    "RUNNING": "cyan",
    "JOB_TIMEOUT_KILLED": "yellow",
    "CLIENT_TIMEOUT_KILLED": "bold red",
    "FAILED": "bold red",
}


OUTCOME_STYLE = {
    "completed": "green",
    "stopped_at_deadline": "yellow",
    "busy": "cyan",
    "interrupted": "yellow",
    "abandoned": "red",
    "failed": "bold red",
    "no_clients": "bold red",
    "circuit_open": "bold red",
    "running": "cyan",
}


LOG_WIDTH = 250
"""Without a terminal (a cron log, Render's log, a pipe) tables are drawn this wide, so that no
field is cut or wrapped for a reader who cannot widen the window; COLUMNS still rules if set."""


def console() -> Console:
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return Console(highlight=False, soft_wrap=False, width=LOG_WIDTH)
    return Console(highlight=False, soft_wrap=False)


def _styled(text: str | None, styles: dict[str, str]) -> str:
    if not text:
        return "-"
    style = styles.get(text) or styles.get(text.split(" ")[0])
    return f"[{style}]{text}[/]" if style else text


def _t(text: object) -> str:
    """Client data is untrusted: a name like ``[bold]`` must print as itself, not as markup, and a
    newline or an escape sequence as its escape."""
    return escape(shown(str(text)))


def _when(text: str | None) -> str:
    if not text:
        return "-"
    return text.replace("T", " ")[:16] + " UTC"


def echo(text: str) -> None:
    """A message: one line however long (a log reader greps it; a terminal wraps it itself)."""
    console().print(_t(text), soft_wrap=True)


def short_duration(seconds: float | None) -> str:
    """``4.4s``, ``12m``, ``1.5h``, ``2d``: a duration for a narrow column."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{round(seconds, 2):g}s"
    for limit, unit, size in ((60, "s", 1), (3600, "m", 60), (2 * 86400, "h", 3600)):
        if seconds < limit:
            value = round(seconds / size, 1)
            return f"{value:g}{unit}"
    return f"{round(seconds / 86400, 1):g}d"
