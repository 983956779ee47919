"""The SQLite store in trouble: locked by another process, deleted or replaced mid-run.

Clients stay bounded whatever the store does; read-only commands never wait on a writer; a run
that cannot write stops and names why, never reporting work nobody kept.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from acceptance.conftest import Project
from processes import alive, wait_until

_HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE meta SET value = value")
print("locked", flush=True)
time.sleep(300)
"""


@contextmanager
def locked(project: Project) -> Iterator[subprocess.Popen[str]]:
    """Another process holds a write transaction on the store until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(project.db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _clients(project: Project, *modes: str) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": m} for i, m in enumerate(modes)])


def test_read_only_commands_answer_while_another_process_holds_the_store_locked(project: Project) -> None:
    _clients(project, "ok", "fail")
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    with locked(project):
        status = project.fnf("status", "--json")
        assert status.returncode == 0, status.stderr
        assert {c["id"] for c in json.loads(status.stdout)["clients"]} == {"c0", "c1"}
        for command in (
            ("status",),
            ("history",),
            ("clients", "list"),
            ("run", "-t", "lead_scoring", "-s", "1", "--dry-run"),
            ("plan", "-t", "lead_scoring", "-s", "1"),
            ("health",),
            ("doctor",),
        ):
            result = project.fnf(*command)
            assert "locked" not in result.stdout + result.stderr, (command, result.stderr)
            assert "Traceback" not in result.stderr
            assert result.returncode in ((0, 1) if command[0] in ("health", "doctor") else (0,)), (command, result)


def test_a_run_held_up_by_a_lock_still_keeps_its_clients_deadlines(project: Project) -> None:
    """The runner waits on the lock (up to a minute); the hanging client is stopped at its deadline
    by its guard meanwhile; once the lock goes, the run records it and goes on."""
    _clients(project, "hang", "ok")
    proc = project.popen(
        "run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "2s", "--grace", "0.5s",
        env={"FNF_DB_BUSY_SECONDS": "60"},
    )  # fmt: skip
    wait_until(project.pids, 30)
    with locked(project):
        wait_until(lambda: alive(project.pids()) == [], 30)
        assert proc.poll() is None, "the run is still waiting for the lock"
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    hang = project.job("c0")
    assert hang["status"] == "CLIENT_TIMEOUT_KILLED", hang
    assert "by its guard at the deadline" in hang["message"]
    assert project.ledger() == ["c1"]


def test_a_run_that_cannot_write_stops_interrupted_naming_the_process_holding_the_lock(project: Project) -> None:
    _clients(project, "hang", "ok")
    proc = project.popen(
        "run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "2s", "--grace", "0.5s", "--json",
        env={"FNF_DB_BUSY_SECONDS": "2"},
    )  # fmt: skip
    wait_until(project.pids, 30)
    with locked(project) as holder:
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    report = json.loads(stdout)
    assert report["outcome"] == "interrupted", report
    assert f"pid {holder.pid}" in report["message"] and "FNF_DB_BUSY_SECONDS" in report["message"]
    assert "database is locked" not in stderr.splitlines()[-1]
    assert alive(project.pids()) == []
    assert project.ledger() == []
    again = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "2s", "--grace", "0.5s")
    assert again.returncode == 0, again.stderr  # takes over at once (the holder is provably dead)
    assert project.ledger() == ["c1"]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_deleted_or_replaced_mid_run_stops_the_run_as_failed(
    project: Project, tmp_path: Path, how: str
) -> None:
    _clients(project, "gate", "ok", "ok")
    gate = tmp_path / "gate"
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json", env={"FNF_TEST_GATE": str(gate)})
    wait_until(Path(f"{gate}.waiting").exists, 60)
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{project.db}{suffix}").unlink(missing_ok=True)
    else:
        copy = tmp_path / "copy.db"
        shutil.copy(project.db, copy)
        os.replace(copy, project.db)
    gate.touch()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    message = json.loads(stdout)["message"]
    assert f"was {how}" in message and "restore the file" in message, message
    assert project.ledger() == ["c0"]  # the run stopped at the first write it could not keep


def test_a_run_out_of_disk_space_is_recorded_failed_and_the_next_run_resumes(project: Project) -> None:
    """The run's files may not grow past the store's size plus 8 KiB (RLIMIT_FSIZE: what a full
    disk does to a writer, without root). The run stops as failed, says why, records the clients
    it finished; read-only commands still answer; the next run resumes where it stopped."""
    project.clients([{"id": f"c{i:03d}", "name": "x" * 200, "stream": 1, "mode": "ok"} for i in range(300)])
    size = project.db.stat().st_size

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 8192, size + 8192))

    def limited(*args: str) -> subprocess.CompletedProcess[str]:
        command = project.command(*args)
        return subprocess.run(command, env=project.env, cwd=project.path, capture_output=True, text=True,
                              timeout=120, preexec_fn=small_disk)  # fmt: skip

    result = limited("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "I/O error" in json.loads(result.stdout)["message"]
    status = limited("status", "--json")
    assert status.returncode == 0, status.stderr
    run = json.loads(status.stdout)["runs"][0]
    assert run["outcome"] == "failed" and "MB free there" in run["message"], run
    done = project.ledger()
    assert 0 < len(done) < 300
    recorded = [
        c["id"] for c in json.loads(status.stdout)["clients"] if c["jobs"]["lead_scoring"]["status"] == "COMPLETED"
    ]
    assert recorded == done  # every client that finished is recorded, even the one whose write failed
    again = project.fnf("run", "-t", "lead_scoring", "-s", "1")
    assert again.returncode == 0, again.stderr
    assert project.ledger() == [f"c{i:03d}" for i in range(300)]  # resumed where it stopped, none twice


def test_read_only_commands_read_a_store_sqlite_cannot_open_for_writing(project: Project) -> None:
    """Where SQLite cannot make its shared-memory file (a read-only directory; here the name is
    taken by a directory, which works as root too), status and history still read the store; a
    run fails with a message that says so, not a traceback."""
    _clients(project, "ok", "ok")
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    Path(f"{project.db}-shm").mkdir()
    status = project.fnf("status", "--json")
    assert status.returncode == 0, status.stderr
    assert {c["jobs"]["lead_scoring"]["status"] for c in json.loads(status.stdout)["clients"]} == {"COMPLETED"}
    assert project.fnf("history").returncode == 0
    run = project.fnf("run", "-t", "lead_scoring", "-s", "1")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "cannot write the SQLite store" in run.stderr, run.stderr
