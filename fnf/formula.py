"""Building Airtable formulas from untrusted values.

A client named ``O'Brien "Jr" {x}`` must select exactly that client, never break the formula or
widen it; so every value goes through :func:`quoted` and every field name through :func:`field`.
"""

from __future__ import annotations

from collections.abc import Iterable


def quoted(value: str) -> str:
    """A string literal: single quotes, with backslashes, quotes and line breaks escaped."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"


def field(name: str) -> str:
    """A field reference. Airtable cannot reference a name containing ``}`` (config refuses one)."""
    if "}" in name:
        raise ValueError(f"field name {name!r} contains '}}', which Airtable formulas cannot reference")
    return "{" + name + "}"


def literal(value: str | int | float) -> str:
    if isinstance(value, bool):
        return "TRUE()" if value else "FALSE()"
    if isinstance(value, int | float):
        return repr(value)
    return quoted(value)


def eq(name: str, value: str | int | float) -> str:
    return f"{field(name)}={literal(value)}"


def not_blank(name: str) -> str:
    return f"{field(name)}!=''"


def blank(name: str) -> str:
    return f"{field(name)}=BLANK()"


def all_of(parts: Iterable[str]) -> str:
    items = list(parts)
    return items[0] if len(items) == 1 else f"AND({','.join(items)})"


def any_of(parts: Iterable[str]) -> str:
    items = list(parts)
    return items[0] if len(items) == 1 else f"OR({','.join(items)})"
