"""What every screen shares: the console, colours that carry meaning, untrusted text made safe."""

from __future__ import annotations

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
}


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _styled(text: str | None, styles: dict[str, str]) -> str:
    if not text:
        return "-"
    style = styles.get(text)
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
    console().print(_t(text))
