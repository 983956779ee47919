"""Spawning a command: what a start that cannot happen says (the real starts are tested in
tests/integration/test_watchdog.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fnf.config import HandlerSpec
from fnf.handlers import CommandHandler, resolve
from fnf.models import Client, JobType
from fnf.proc import command
from fnf.proc.work import Work, WorkFiles


def _work(tmp_path: Path) -> tuple[Work, CommandHandler, WorkFiles]:
    handler = resolve(HandlerSpec(JobType.LEAD_SCORING, "command", "true", "TEST"), os.environ)
    assert isinstance(handler, CommandHandler)
    work = Work(Client("c1", "C1", 1), JobType.LEAD_SCORING, "job", "run1", 1, datetime.now(UTC), 0.0, handler)
    return work, handler, WorkFiles.in_dir(tmp_path, 1)


def test_a_c_library_without_spawn_in_a_new_session_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_setsid(*args: Any, **kwargs: Any) -> int:
        raise NotImplementedError("setsid")

    monkeypatch.setattr(os, "posix_spawn", no_setsid)
    work, handler, files = _work(tmp_path)
    with pytest.raises(command.SpawnError) as raised:
        command.spawn(work, handler, files, {})
    assert raised.value.code == 126
    assert "cannot run 'true'" in str(raised.value) and "glibc 2.26" in str(raised.value)


def test_whose_a_process_is_comes_from_its_environment(tmp_path: Path) -> None:
    work = _work(tmp_path)[0]
    assert command.owner_of(os.getpid()) is None, "this process carries no run's marks"
    pid = os.posix_spawn(
        "/bin/sleep", ["sleep", "5"], {"FNF_RUN_ID": "run1", "FNF_JOB_ID": "job", "FNF_CLIENT_ID": "c1"}
    )
    try:
        assert command.owner_of(pid) == command.owner(work) == ("run1", "job", "c1")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
