"""Chaos (slow): SIGKILL, SIGTERM and SIGINT at random instants, store writes included."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from collections import Counter

import pytest
from acceptance.conftest import Project
from processes import alive

pytestmark = pytest.mark.slow

SIGNALS = [signal.SIGKILL, signal.SIGKILL, signal.SIGTERM, signal.SIGINT]


def test_random_signals_never_lose_or_duplicate_work(project: Project) -> None:
    clients = [f"c{i:03d}" for i in range(200)]
    rows = []
    for index, client in enumerate(clients):
        # Short clients with instant ones between them, so that signals also land in store writes.
        seconds = 0.0 if index % 3 == 0 else 0.15
        rows.append({"id": client, "name": f"Client {client}", "stream": 1, "mode": "ok", "seconds": seconds})
    project.clients(rows)
    rng = random.Random(7)
    signals_sent = 0
    while signals_sent < 60:
        proc = project.popen("run", "-t", "lead_scoring", "-s", "1")
        time.sleep(rng.uniform(0.2, 0.9))
        if proc.poll() is not None:
            break
        signum = rng.choice(SIGNALS)
        proc.send_signal(signum)
        proc.communicate(timeout=30)
        signals_sent += 1
        expected = {signal.SIGKILL: -9, signal.SIGTERM: 143, signal.SIGINT: 130}[signum]
        assert proc.returncode in (expected, 0), (signum, proc.returncode)
        time.sleep(0.05)
        assert alive(project.pids()) == []
        with sqlite3.connect(project.db) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for _ in range(5):
        if not project.status("--type", "lead_scoring")["streams"][0]["sweep_open"]:
            break
        assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    assert signals_sent >= 40
    assert {project.job(c)["status"] for c in clients} == {"COMPLETED"}
    done = Counter(project.ledger())
    assert set(done) == set(clients)
    assert sum(n - 1 for n in done.values()) <= signals_sent
    runs = project.status()["runs"]
    assert all(r["outcome"] is not None for r in runs), "every run has an outcome once its successor ran"
