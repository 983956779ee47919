"""Reading clients from a CSV file: columns id, name, stream, then any extra fields.

The whole file is validated before anything is written: one bad row means nothing is
imported, and the error lists every bad row with its line number.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from fnf.errors import ImportFileError
from fnf.models import MAX_STREAM, Client, unprintable

REQUIRED = ("id", "name", "stream")
_MAX_SHOWN = 20


def parse_stream(raw: str) -> int | None:
    """A stream is a whole number from 1 to MAX_STREAM in the digits 0-9 (as on the command line);
    blank means not yet assigned to a stream."""
    text = raw.strip()
    if not text:
        return None
    if re.fullmatch(r"[0-9]+", text):
        if 1 <= int(text) <= MAX_STREAM:
            return int(text)
        if int(text) > MAX_STREAM:
            raise ValueError(f"stream {raw!r} is larger than {MAX_STREAM}, the highest stream fnf takes")
    try:
        float(text)
    except ValueError:
        raise ValueError(f"stream {raw!r} is not a number; use a positive whole number such as 1") from None
    raise ValueError(f"stream {raw!r} is not a positive whole number; use 1, 2, 3 ... written with digits 0-9")


def read_clients(path: Path) -> list[Client]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            _check_header(path, header)
            reader.fieldnames = header
            rows = list(reader)
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file; give the path of a CSV file") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text ({exc.reason}); save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: not a readable CSV file: {exc}") from None
    return _clients(path, rows)


def _check_header(path: Path, header: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        shown = ", ".join(header) if header else "nothing (the file is empty)"
        raise ImportFileError(
            f"{path}: missing column(s) {', '.join(missing)}, nothing imported; the first line must name the columns "
            f"id, name, stream (then any extra fields); it has {shown}"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ImportFileError(f"{path}: column(s) named twice: {', '.join(duplicated)}")


def _clients(path: Path, rows: list[dict[str, str | None]]) -> list[Client]:
    problems: list[str] = []
    clients: list[Client] = []
    first_line: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if None in row:
            problems.append(f"line {number}: more values than columns")
            continue
        client_id = (row.get("id") or "").strip()
        name = (row.get("name") or "").strip()
        if not client_id:
            problems.append(f"line {number}: id is blank")
            continue
        if client_id in first_line:
            problems.append(f"line {number}: id {client_id!r} already used on line {first_line[client_id]}")
            continue
        first_line[client_id] = number
        if not name:
            problems.append(f"line {number}: name is blank for client {client_id!r}")
        for what, text in (("id", client_id), ("name", name)):
            char = unprintable(text)
            if char is not None:
                problems.append(
                    f"line {number}: {what} {text!r} contains the control character {char!r}, which would garble "
                    "logs and tables; remove it"
                )
        try:
            stream = parse_stream(row.get("stream") or "")
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        extra = {k: (v or "") for k, v in row.items() if k not in REQUIRED and k is not None}
        clients.append(Client(client_id, name, stream, extra))
    if problems:
        shown = problems[:_MAX_SHOWN]
        more = f"\n  ... and {len(problems) - _MAX_SHOWN} more" if len(problems) > _MAX_SHOWN else ""
        raise ImportFileError(
            f"{path}: {len(problems)} bad row(s), nothing imported; fix them and import again:\n  "
            + "\n  ".join(shown)
            + more
        )
    return clients
