"""Helpers the process-level tests share: which pids still live, and waiting for a condition."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil


def alive(pids: Sequence[int]) -> list[int]:
    """The pids that still run (a zombie has ended: it only waits to be reaped)."""
    living = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.append(pid)
        except psutil.NoSuchProcess:
            pass
    return living


def read_pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def wait_until(condition: Callable[[], object], seconds: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        time.sleep(0.02)


def on_a_terminal(argv: list[str], cwd: object, env: dict[str, str], answer: bytes = b"") -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr, typing ``answer``; returns
    the exit code and everything the terminal showed."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave)  # type: ignore[arg-type]
    os.close(slave)
    if answer:
        os.write(master, answer)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")
