"""The Airtable store through the real CLI: schema, faults, outages, shared bases, secrets."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from acceptance.conftest import Project, make_project
from airtable_helpers import TOKEN
from processes import wait_until

from fnf.testing.airtable_emulator import Emulator


@pytest.fixture
def airtable(tmp_path: Path, emulator: Emulator) -> Project:
    return make_project(tmp_path, "airtable", emulator)


def rows(count: int, stream: int = 1, seconds: float = 0.0, prefix: str = "c") -> list[dict[str, object]]:
    return [
        {"id": f"{prefix}{i:03d}", "name": f"Client {i}", "stream": stream, "mode": "ok", "seconds": seconds}
        for i in range(count)
    ]


def test_schema_apply_on_an_empty_base_then_a_run_then_check_is_clean(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path, "airtable", emulator, schema=False)
    check = project.fnf("schema", "check")
    assert check.returncode == 1 and "table 'Clients': missing" in check.stdout
    refused = project.fnf("run", "-t", "lead_scoring", "-s", "1")
    assert refused.returncode == 2 and "fnf schema apply" in refused.stderr
    applied = project.fnf("schema", "apply")
    assert applied.returncode == 0, applied.stderr
    assert "created table 'Clients'" in applied.stdout
    again = project.fnf("schema", "apply")
    assert (again.returncode, again.stdout.strip()) == (0, "nothing to do: the base already has what fnf creates")
    project.clients(rows(3))
    run = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["outcome"] == "completed", run.stderr
    clean = project.fnf("schema", "check", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout) == {"ok": True, "problems": []}
    fields = emulator.records(project.base_id, "Clients")[0]["fields"]
    assert fields["Lead Scoring Job Status"] == "COMPLETED"
    assert fields["Lead Scoring Job ID"].startswith("job_lead_stream1_")
    assert isinstance(fields["Leads Scored Last Run"], int) and fields["Lead Scoring Last Run Time"].endswith("seconds")


def test_a_misnamed_field_stops_the_run_before_anything_changes(airtable: Project, emulator: Emulator) -> None:
    airtable.clients(rows(3))
    with emulator.lock:
        field = emulator.base(airtable.base_id).table("Clients").field("Post Scoring Job Status")
        assert field is not None
        field.name = "Post Scoring Status"
    before = airtable.dump()
    result = airtable.fnf("run", "-t", "lead_scoring", "-s", "1")
    assert result.returncode == 2
    assert "'Post Scoring Job Status'" in result.stderr and "fnf schema apply" in result.stderr
    assert airtable.dump() == before
    assert airtable.ledger() == []


def test_5xx_429_bursts_and_dropped_connections_still_process_every_client_once(
    airtable: Project, emulator: Emulator
) -> None:
    airtable.clients(rows(30))
    emulator.set_faults(error_rate=0.1, drop_rate=0.03, throttle_next=6, seed=3)
    try:
        beats = {"HEARTBEAT_INTERVAL_MINUTES": "0.1"}  # a lost heartbeat or two must not end the run
        result = airtable.fnf("run", "-t", "lead_scoring", "-s", "1", "--json", timeout=100, env=beats)
    finally:
        emulator.set_faults(error_rate=0.0, drop_rate=0.0, throttle_next=0)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "completed"
    assert Counter(airtable.ledger()) == Counter(f"c{i:03d}" for i in range(30))
    assert "retrying" in result.stderr
    statuses = {c["id"]: c["jobs"]["lead_scoring"]["status"] for c in airtable.status()["clients"]}
    assert set(statuses.values()) == {"COMPLETED"}


def test_an_outage_longer_than_the_budget_interrupts_with_exit_1_and_resumes(
    airtable: Project, emulator: Emulator
) -> None:
    airtable.clients(rows(6, seconds=0.5))
    proc = airtable.popen("run", "-t", "lead_scoring", "-s", "1", env={"AIRTABLE_RETRY_BUDGET_SECONDS": "1.5"})
    wait_until(lambda: len(airtable.ledger()) >= 2, 30)
    emulator.set_faults(down=True)
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        emulator.set_faults(down=False)
    assert proc.returncode == 1, stderr
    assert "store is unreachable" in stderr and "next run resumes at client" in stderr
    assert TOKEN not in stderr
    done = airtable.ledger()
    resumed = airtable.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["outcome"] == "completed"
    counts = Counter(airtable.ledger())
    assert set(counts) == {f"c{i:03d}" for i in range(6)}
    assert sum(counts.values()) - 6 <= 1, f"only the client in flight may run twice: {done} then {counts}"


@pytest.fixture
def strict_emulator() -> Iterator[Emulator]:
    """Airtable's real limit with a short penalty, so breaches cost seconds, not minutes."""
    with Emulator(TOKEN, penalty=2.0) as running:
        yield running


@pytest.mark.parametrize(
    "split",
    [pytest.param(False, marks=pytest.mark.slow), pytest.param(True, marks=pytest.mark.slow)],
    ids=["each-at-5rps", "budget-split"],
)
def test_three_streams_share_one_rate_limited_base(tmp_path: Path, strict_emulator: Emulator, split: bool) -> None:
    project = make_project(tmp_path, "airtable", strict_emulator, rate_limit=5)
    project.env["AIRTABLE_RATE_LIMIT_WAIT_SECONDS"] = "2"
    project.env["AIRTABLE_RETRY_BUDGET_SECONDS"] = "120"
    project.env["HEARTBEAT_INTERVAL_MINUTES"] = "0.2"
    if split:  # what README advises: at most 5 requests in any second, so 1 each for 3 machines
        project.env["AIRTABLE_REQUESTS_PER_SECOND"] = "1"
    project.clients([row for stream in (1, 2, 3) for row in rows(5, stream, prefix=f"s{stream}-")])
    procs = [project.popen("run", "-t", "lead_scoring", "-s", str(stream), "--json") for stream in (1, 2, 3)]
    outcomes = [json.loads(p.communicate(timeout=300)[0])["outcome"] for p in procs]
    assert outcomes == ["completed"] * 3
    assert Counter(project.ledger()) == Counter(str(r["id"]) for s in (1, 2, 3) for r in rows(5, s, prefix=f"s{s}-"))
    if split:
        assert strict_emulator.stats.rate_limited == 0, "a split budget never breaches the limit"


def test_the_token_never_appears_in_output(airtable: Project) -> None:
    airtable.clients(rows(2))
    outputs = []
    for args in (["-v", "run", "-t", "lead_scoring", "-s", "1", "--json"], ["status", "--json"], ["-v", "status"]):
        result = airtable.fnf(*args)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    refused = airtable.fnf("status", env={"AIRTABLE_API_KEY": "pat-wrong.hush-hush"})
    assert refused.returncode == 1 and "AIRTABLE_API_KEY" in refused.stderr
    outputs.append(refused.stdout + refused.stderr)
    assert all(TOKEN not in text and "hush-hush" not in text for text in outputs)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"AIRTABLE_API_KEY": ""}, "FNF_STORE=airtable needs AIRTABLE_API_KEY"),
        ({"AIRTABLE_BASE_ID": "tblNotABase"}, "AIRTABLE_BASE_ID='tblNotABase'"),
        ({"AIRTABLE_FIELD_CLIENT_NAM": "Name"}, "AIRTABLE_FIELD_CLIENT_NAM (from the environment) does not name"),
        ({"AIRTABLE_FIELD_CLIENT_NAME": "a}b"}, "must not contain '}'"),
        ({"AIRTABLE_REQUESTS_PER_SECOND": "fast"}, "AIRTABLE_REQUESTS_PER_SECOND='fast'"),
        ({"AIRTABLE_ENDPOINT_URL": "ftp://x"}, "AIRTABLE_ENDPOINT_URL='ftp://x'"),
        ({"AIRTABLE_RUNS_TABLE": "Clients"}, "must name three different tables"),
    ],
)
def test_bad_airtable_settings_are_named_with_exit_2(airtable: Project, env: dict[str, str], fragment: str) -> None:
    result = airtable.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert TOKEN not in result.stderr


def test_renamed_fields_from_the_environment_work_end_to_end(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path, "airtable", emulator, schema=False)
    project.env["AIRTABLE_FIELD_CLIENT_NAME"] = "Company"
    project.env["AIRTABLE_FIELD_LEAD_SCORING_JOB_STATUS"] = "Scoring"
    assert project.fnf("schema", "apply").returncode == 0
    project.clients(rows(2))
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    fields = emulator.records(project.base_id, "Clients")[0]["fields"]
    assert fields["Company"] == "Client 0" and fields["Scoring"] == "COMPLETED"


def test_sigterm_during_a_rate_limit_wait_exits_at_once_and_resumes(airtable: Project, emulator: Emulator) -> None:
    airtable.clients(rows(4, seconds=0.3))
    slow_waits = {"AIRTABLE_RATE_LIMIT_WAIT_SECONDS": "120", "AIRTABLE_RETRY_BUDGET_SECONDS": "600"}
    proc = airtable.popen("run", "-t", "lead_scoring", "-s", "1", env=slow_waits)
    wait_until(airtable.ledger, 30)
    emulator.set_faults(throttle_next=100_000)
    try:
        wait_until(lambda: emulator.stats.injected_429 > 0, 30)
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
    finally:
        emulator.set_faults(throttle_next=0)
    assert proc.returncode == 143, stderr
    assert waited < 15, f"took {waited:.1f} s to stop: Render would have sent SIGKILL"
    resumed = airtable.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert json.loads(resumed.stdout)["outcome"] == "completed", resumed.stderr
    assert set(airtable.ledger()) == {f"c{i:03d}" for i in range(4)}


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An address that accepts connections and never answers: Airtable as a broken network shows it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("doctor",),
        pytest.param(("clients", "list"), marks=pytest.mark.slow),
        pytest.param(("schema", "check"), marks=pytest.mark.slow),
    ],
)
def test_interactive_commands_give_up_on_an_unreachable_airtable_with_one_line(
    airtable: Project, black_hole: str, command: tuple[str, ...]
) -> None:
    result = airtable.fnf(*command, env={"AIRTABLE_ENDPOINT_URL": black_hole}, timeout=90)
    assert result.returncode == 1, (result.stdout, result.stderr)
    text = result.stdout + result.stderr
    assert "interactive commands give up after 10 s" in text and black_hole in text
    assert "retrying in" not in result.stderr, "no warning per retry"
    assert "Traceback" not in text
