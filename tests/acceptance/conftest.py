"""A project directory with its own store and environment, driven through the real CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airtable_helpers import airtable_settings, environ_for, new_base
from known_secrets import leaked
from processes import read_pids

from fnf.store.airtable import AirtableStore
from fnf.testing.airtable_emulator import Emulator

TESTS = Path(__file__).resolve().parents[1]
STARTED: list[subprocess.Popen[str]] = []
"""Every fnf process a test started; whatever is still running when the test ends is killed."""


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


ROOT = TESTS.parent


def _no_secret_in(what: str, *outputs: str | None) -> None:
    found = leaked("".join(text or "" for text in outputs))
    assert not found, f"{what} printed a secret: {found}"


class _ScannedPopen(subprocess.Popen[str]):
    """A started fnf whose output, once read with communicate(), is scanned for the test secrets."""

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:
        out, err = super().communicate(input, timeout)
        _no_secret_in(f"fnf {' '.join(map(str, self.args[3:]))}", out, err)  # type: ignore[index]
        return out, err


@dataclass
class Project:
    path: Path
    env: dict[str, str]
    kind: str = "sqlite"
    emulator: Emulator | None = None
    base_id: str = ""

    @property
    def db(self) -> Path:
        return self.path / "fnf.db"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "fnf", *args]

    def fnf(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            cwd=self.path,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        _no_secret_in(f"fnf {' '.join(args)}", result.stdout, result.stderr)
        return result

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = _ScannedPopen(
            self.command(*args),
            cwd=self.path,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        STARTED.append(proc)
        return proc

    def clients(self, rows: Sequence[dict[str, Any]]) -> None:
        columns = ["id", "name", "stream", *sorted({k for r in rows for k in r} - {"id", "name", "stream"})]
        lines = [",".join(columns)]
        for row in rows:
            lines.append(",".join(str(row.get(c, "")) for c in columns))
        (self.path / "clients.csv").write_text("\n".join(lines) + "\n")
        result = self.fnf("clients", "import", "clients.csv")
        assert result.returncode == 0, result.stderr

    def status(self, *args: str) -> dict[str, Any]:
        result = self.fnf("status", "--json", *args)
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def jobs(self, job_type: str = "lead_scoring") -> dict[str, dict[str, Any]]:
        """Every client's job of ``job_type``, by client id, from one ``fnf status --json``."""
        return {c["id"]: c["jobs"][job_type] for c in self.status()["clients"]}

    def job(self, client_id: str, job_type: str = "lead_scoring") -> dict[str, Any]:
        for client in self.status()["clients"]:
            if client["id"] == client_id:
                job: dict[str, Any] = client["jobs"][job_type]
                return job
        raise KeyError(client_id)

    def dump(self) -> list[str]:
        """The store's whole content, to prove a command changed nothing."""
        if self.emulator is not None:
            tables = ("Clients", "Job Runs", "Sweeps")
            return [
                f"{table}\t{json.dumps(record, sort_keys=True)}"
                for table in tables
                for record in self.emulator.records(self.base_id, table)
            ]
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as db:
            return list(db.iterdump())

    def set_run_host(self, host: str) -> None:
        """Make every recorded run look as if it ran on ``host``."""
        if self.emulator is not None:
            with self.emulator.lock:
                for record in self.emulator.base(self.base_id).table("Job Runs").records.values():
                    record.fields["Host"] = host
            return
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE runs SET host = ?", (host,))

    def set_heartbeat_age(self, seconds: float) -> None:
        """Make every live lease's last heartbeat ``seconds`` old, on the clocks fnf judges it by."""
        from datetime import UTC, datetime, timedelta

        from fnf import host
        from fnf.clock import iso

        at = iso(datetime.now(UTC) - timedelta(seconds=seconds))
        if self.emulator is not None:
            with self.emulator.lock:
                for record in self.emulator.base(self.base_id).table("Job Runs").records.values():
                    record.fields["Heartbeat At"] = at
            return
        beat = f"{host.boot_id().partition('|')[0]}@{host.boottime() - seconds:.3f}"
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE leases SET heartbeat_at = ?, beat = ?", (at, beat))
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE outcome IS NULL", (at,))

    def integrity(self) -> str:
        if self.emulator is not None:
            return "ok"  # records are written whole or not at all by the service
        with sqlite3.connect(self.db) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    def ledger(self) -> list[str]:
        path = self.path / "ledger"
        return path.read_text().split() if path.exists() else []

    def pids(self) -> list[int]:
        return read_pids(self.path / "pids")


def finish_sweep(project: Project, *args: str, tries: int = 6, timeout: float = 120) -> None:
    """Run lead_scoring stream 1 until its sweep is done: on a loaded machine, every kill of a
    test may have landed before the first client started, so no sweep may be open yet."""
    for _ in range(tries):
        status = project.status("--type", "lead_scoring")
        states = {c["jobs"]["lead_scoring"]["status"] for c in status["clients"] if c["stream"] == 1}
        if states == {"COMPLETED"} and not status["streams"][0]["sweep_open"]:
            return
        result = project.fnf("run", "-t", "lead_scoring", "-s", "1", *args, timeout=timeout)
        assert result.returncode == 0, result.stderr


def make_project(
    tmp_path: Path,
    kind: str = "sqlite",
    emulator: Emulator | None = None,
    *,
    schema: bool = True,
    rate_limit: int | None = None,
) -> Project:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FNF_", "MAX_", "HEARTBEAT_"))}
    env.update(
        {
            "FNF_DB": str(tmp_path / "fnf.db"),
            "FNF_ENV_FILE": str(tmp_path / "no.env"),
            "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]),
            "FNF_HANDLER_LEAD_SCORING": "fnf_test_handlers:work",
            "FNF_HANDLER_POST_HARVESTING": "fnf_test_handlers:work",
            "FNF_HANDLER_POST_SCORING": "fnf_test_handlers:work",
            "FNF_TEST_LEDGER": str(tmp_path / "ledger"),
            "FNF_TEST_PIDS": str(tmp_path / "pids"),
            "HEARTBEAT_INTERVAL_MINUTES": "0.02",
            "FNF_KILL_GRACE_SECONDS": "0.5",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    if kind == "sqlite":
        return Project(tmp_path, env)
    assert emulator is not None
    base_id = new_base(emulator, rate_limit=rate_limit or ACCEPTANCE_RATE)
    rate = "5" if rate_limit else str(ACCEPTANCE_RATE - 5)
    env.update(environ_for(emulator, base_id, AIRTABLE_REQUESTS_PER_SECOND=rate))
    if schema:
        AirtableStore(airtable_settings(emulator, base_id, requests_per_second=float(rate))).apply_schema()
        if rate_limit:
            time.sleep(1.1)  # let the set-up's requests leave the rate-limit window
    return Project(tmp_path, env, kind, emulator, base_id)


SLOW_ON_AIRTABLE = {
    "test_kill_minus_9_at_random_instants_loses_and_duplicates_nothing",
    "test_misbehaving_clients_are_killed_recorded_and_the_next_client_runs",
    "test_second_run_on_a_busy_stream_touches_nothing_then_takes_over_after_kill",
    "test_a_stop_signal_mid_client_records_and_resumes",
    "test_signal_during_a_client_ignoring_sigterm_still_exits_in_time",
    "test_job_deadline_mid_client_exit_zero_and_resume_there",
    "test_all_and_lead_scoring_on_one_stream_never_overlap",
    "test_status_filters_and_watch",
    "test_status_reads_well_at_80_and_200_columns_with_and_without_colour",
    "test_busy_ticks_are_folded_in_history_and_the_live_run_is_the_last_outcome",
    "test_plan_predicts_from_history_and_flags_what_would_not_fit",
    "test_plan_takes_a_job_limit_and_says_when_durations_are_unknown",
}
"""The longest tests run on both stores, but on Airtable with the slow ones. Their SQLite runs
cover the same runner and screens; what is Airtable's own (the lease records, kills and signals
against the emulator, takeover across hosts, clocks, writes and prunes) keeps tests of its own in
the main suite, and the Airtable chaos test runs with the slow ones."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        if params is not None and "airtable" in params.id.split("-") and item.originalname in SLOW_ON_AIRTABLE:
            item.add_marker(pytest.mark.slow)


ACCEPTANCE_RATE = 60
"""Requests per second the acceptance bases allow: the real limit has tests of its own."""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


@pytest.fixture(params=["sqlite", "airtable"])
def any_project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """A project on each store in turn: the test runs once per store."""
    if request.param == "sqlite":
        return make_project(tmp_path)
    return make_project(tmp_path, "airtable", request.getfixturevalue("emulator"))
