"""Reading what a child left behind: how it ended, its count, and its output for the log."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from fnf.failures import FailureKind, kind_of_exit
from fnf.models import bounded
from fnf.proc.work import ChildResult, ResultKind, WorkFiles

child_log = logging.getLogger("fnf.child")

_TAIL_BYTES = 64 * 1024
_LINE_MAX = 4096
"""Characters of one logged line of a child's output; a longer one keeps its head and tail."""


def describe_status(status: dict[str, Any] | None) -> str:
    if status is None:
        return "the worker vanished without an exit status"
    if "signal" in status:
        try:
            name = signal.Signals(int(status["signal"])).name
        except ValueError:
            name = f"signal {status['signal']}"
        return f"killed by {name}"
    return f"exited with code {status.get('exit')}"


def classify_python(status: dict[str, Any] | None, reported: dict[str, Any], seconds: float) -> ChildResult:
    if status == {"exit": 0} and "count" in reported:
        count = reported["count"]
        message = None if count is not None else "the handler returned no count (None)"
        return ChildResult(ResultKind.SUCCEEDED, count=count, message=message, seconds=seconds)
    if "error" in reported:
        return _failed(str(reported["error"]), _reported_kind(reported) or kind_of_status(status), reported, seconds)
    return _failed(describe_status(status), kind_of_status(status), reported, seconds)


def classify_command(
    status: dict[str, Any] | None, reported: dict[str, Any], files: WorkFiles, seconds: float
) -> ChildResult:
    if "error" in reported:  # the command could not be started at all
        return _failed(str(reported["error"]), FailureKind.CONFIG, reported, seconds)
    if status != {"exit": 0}:
        detail = _last_line(files.err)
        message = describe_status(status) + (f": {detail}" if detail else "")
        return _failed(message, kind_of_status(status), reported, seconds)
    last = _last_line(files.out)
    count = _parse_count(last)
    if count is None:
        shown = (last[:120] + "...") if last and len(last) > 120 else last
        message = 'exited 0 without a final stdout line {"count": N}' + (
            f"; last line was {shown!r}" if shown else "; it printed nothing"
        )
        return ChildResult(ResultKind.SUCCEEDED, count=None, message=message, seconds=seconds)
    return ChildResult(ResultKind.SUCCEEDED, count=count, seconds=seconds)


def kind_of_status(status: dict[str, Any] | None) -> FailureKind:
    """The kind of a failure from how the process ended (fnf's own kills are told apart by the runner)."""
    if status is None:
        return FailureKind.CRASH
    if "signal" in status:
        return FailureKind.SIGNAL
    code = status.get("exit")
    return kind_of_exit(code) if isinstance(code, int) else FailureKind.CRASH


def _reported_kind(reported: dict[str, Any]) -> FailureKind | None:
    try:
        return FailureKind(reported["kind"]) if "kind" in reported else None
    except ValueError:
        return None


def _failed(message: str, kind: FailureKind, reported: dict[str, Any], seconds: float) -> ChildResult:
    after = reported.get("after")
    retry_after = (
        float(after) if isinstance(after, int | float) and not isinstance(after, bool) and after >= 0 else None
    )
    return ChildResult(ResultKind.FAILED, message=message, seconds=seconds, failure=kind, retry_after=retry_after)


def _parse_count(line: str | None) -> int | None:
    if not line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    count = data.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    return None


def _last_line(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return line.strip()
    return None


def forward_output(client_id: str, files: WorkFiles, cap: int) -> None:
    """Copy the child's output into fnf's log, each line prefixed with the client.

    Past ``cap`` bytes the head and the tail are kept, half each, with the number of bytes left
    out between them: a failure's reason is usually at the end.
    """
    for path, label in ((files.out, "out"), (files.err, "err")):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size == 0 or cap == 0:
            continue
        head, tail = _head_and_tail(path, size, cap)
        for line in head:
            child_log.info("[%s %s] %s", client_id, label, bounded(line, _LINE_MAX))
        if size > cap:
            child_log.info(
                "[%s %s] ... %d bytes of output not logged (FNF_CHILD_LOG_MAX_BYTES=%d keeps the first and last half)",
                client_id,
                label,
                size - cap,
                cap,
            )
        for line in tail:
            child_log.info("[%s %s] %s", client_id, label, bounded(line, _LINE_MAX))


def _head_and_tail(path: Path, size: int, cap: int) -> tuple[list[str], list[str]]:
    """The lines of a file of ``size`` bytes, or past ``cap`` those of its first and last halves
    (a line cut at a half's edge is dropped, unless it is the only one)."""
    with open(path, "rb") as handle:
        if size <= cap:
            return handle.read().decode("utf-8", "replace").splitlines(), []
        head = handle.read(cap // 2).decode("utf-8", "replace").splitlines()
        handle.seek(size - cap // 2)
        tail = handle.read().decode("utf-8", "replace").splitlines()
    return head[:-1] or head, tail[1:] or tail
