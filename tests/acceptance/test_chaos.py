"""Chaos (slow): 200 SIGKILL, SIGTERM and SIGINT at random instants, store writes included, on
SQLite and on the Airtable emulator with injected faults (5xx, dropped connections, latency)."""

from __future__ import annotations

import json
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from acceptance.conftest import Project, finish_sweep, make_project
from airtable_helpers import TOKEN
from processes import alive

from fnf.testing.airtable_emulator import Emulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

SIGNALS = [signal.SIGKILL, signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
EXPECTED = {signal.SIGKILL: -9, signal.SIGTERM: 143, signal.SIGINT: 130}
KILLS = 200


@pytest.fixture(params=["sqlite", "airtable"])
def chaos_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    if request.param == "sqlite":
        yield make_project(tmp_path)
        return
    with Emulator(TOKEN, penalty=2.0) as faulty:  # private: its faults touch no other test
        project = make_project(tmp_path, "airtable", faulty)
        project.env["AIRTABLE_RATE_LIMIT_WAIT_SECONDS"] = "2"
        faulty.set_faults(error_rate=0.05, drop_rate=0.02, latency=0.003, seed=11)
        yield project


def test_200_random_signals_never_lose_or_duplicate_work(chaos_project: Project) -> None:
    project = chaos_project
    clients = [f"c{i:03d}" for i in range(900 if project.kind == "sqlite" else 600)]
    rows = []
    for index, client in enumerate(clients):
        # Short clients with instant ones between them, so that signals also land in store writes.
        seconds = 0.0 if index % 3 == 0 else 0.1
        rows.append({"id": client, "name": f"Client {client}", "stream": 1, "mode": "ok", "seconds": seconds})
    project.clients(rows)
    rng = random.Random(7)
    sent = 0
    while sent < KILLS:
        proc = project.popen("run", "-t", "lead_scoring", "-s", "1")
        time.sleep(rng.uniform(0.1, 0.9))
        if proc.poll() is not None:
            break  # the sweep is complete
        signum = rng.choice(SIGNALS)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
        sent += 1
        starting = proc.returncode == -signum or _python_was_starting(signum, proc.returncode, stderr)
        if signum != signal.SIGKILL and starting:
            # Killed by the default action, or (SIGINT) by Python's KeyboardInterrupt: the signal came
            # while the interpreter was still starting, before fnf's first line, so this run must not
            # have taken the stream (a lease left by an earlier SIGKILLed run may still be there).
            live = project.status("--overview")["streams"][0]["live_run"]
            assert live is None or live["pid"] != proc.pid, live
        else:
            assert proc.returncode in (EXPECTED[signum], 0), (signum, proc.returncode, stderr[-3000:])
        time.sleep(0.02)
        assert alive(project.pids()) == [], "no orphan process"
        assert project.integrity() == "ok", "store readable"
    finish_sweep(project, tries=8, timeout=900)
    assert sent >= KILLS * 3 // 4, f"only {sent} signals landed mid-sweep"
    statuses = {
        c["id"]: c["jobs"]["lead_scoring"]["status"] for c in project.status("--type", "lead_scoring")["clients"]
    }
    assert set(statuses) == set(clients) and set(statuses.values()) == {"COMPLETED"}, "no client lost from the sweep"
    done = Counter(project.ledger())
    assert set(done) == set(clients)
    repeats = sum(n - 1 for n in done.values())
    assert repeats <= sent, f"{repeats} repeated completions after {sent} signals: only the one in flight may repeat"
    history = project.fnf("history", "--json", "--limit", "1000")
    runs = json.loads(history.stdout)
    assert 0 < len(runs) < 1000, "the history holds every run (one stopped in start-up leaves none)"
    assert all(r["outcome"] is not None for r in runs), "every run has an outcome once its successor ran"


def _python_was_starting(signum: int, returncode: int, stderr: str) -> bool:
    """Python's own answer to a SIGINT before any of fnf's code ran: a KeyboardInterrupt
    traceback and exit status 1, with no line logged by fnf."""
    logged = re.search(r"^\d{4}-\d\d-\d\dT", stderr, re.MULTILINE)
    return signum == signal.SIGINT and returncode == 1 and stderr.rstrip().endswith("KeyboardInterrupt") and not logged
