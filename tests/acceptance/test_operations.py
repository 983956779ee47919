"""history, reset, doctor and health through the real CLI (history and reset on both stores)."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from acceptance.conftest import Project
from processes import alive, on_a_terminal, wait_until


@pytest.fixture
def project(any_project: Project) -> Project:
    return any_project


def rows(count: int, seconds: float = 0.3) -> list[dict[str, object]]:
    return [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": seconds} for i in range(count)]


def test_history_lists_runs_newest_first_and_prune_removes_ended_ones(project: Project) -> None:
    project.clients(rows(6))
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1", "--job-timeout", "1s").returncode == 0
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    result = project.fnf("history", "--json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["outcome"] for r in runs] == ["completed", "stopped_at_deadline"]
    assert runs[1]["stopped_at"] is not None and runs[1]["duration_seconds"] >= 1.0
    assert runs[0]["completed"] + runs[1]["completed"] == 6
    assert json.loads(project.fnf("history", "--json", "--stream", "2").stdout) == []
    assert len(json.loads(project.fnf("history", "--json", "-n", "1").stdout)) == 1
    table = project.fnf("history")
    assert "stopped_at_deadline" in table.stdout and "completed" in table.stdout
    kept = project.fnf("history", "prune", "--older-than", "30d")
    assert kept.returncode == 0 and "pruned 0 run record(s)" in kept.stdout
    pruned = project.fnf("history", "prune", "--older-than", "1ms")
    assert "pruned 2 run record(s)" in pruned.stdout
    assert json.loads(project.fnf("history", "--json").stdout) == []
    bad = project.fnf("history", "prune", "--older-than", "a while")
    assert bad.returncode == 2 and "--older-than 'a while'" in bad.stderr


def test_reset_releases_a_dead_runs_lease_and_its_stuck_client(project: Project) -> None:
    project.clients([{"id": "stuck", "name": "S", "stream": 1, "mode": "hang"}, *rows(1)])
    holder = project.popen("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "60s")
    wait_until(project.pids)
    refused = project.fnf("reset", "-t", "lead_scoring", "-s", "1")
    assert refused.returncode == 2 and "looks alive" in refused.stderr and "--force" in refused.stderr
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    assert project.job("stuck")["status"] in ("STARTED", "RUNNING")
    result = project.fnf("reset", "-t", "lead_scoring", "-s", "1")
    assert result.returncode == 0, result.stderr
    assert "released the lease of run" in result.stdout
    assert "reset stuck (lead_scoring) from" in result.stdout
    job = project.job("stuck")
    assert job["status"] == "JOB_TIMEOUT_KILLED" and "reset by an operator" in job["message"]
    run = project.status()["runs"][0]
    assert run["outcome"] == "abandoned" and "released by fnf reset" in run["message"]
    assert project.status()["streams"][0]["live_run"] is None
    again = project.fnf("reset", "-t", "lead_scoring", "-s", "1")
    assert "nothing to reset" in again.stdout


def test_a_forced_reset_stops_a_live_run_on_this_host_before_releasing_its_stream(project: Project) -> None:
    """The holder is stopped (SIGTERM, proven to be that run's process) before the stream is
    released, so a new run never starts the holder's client while the holder still runs it."""
    project.clients([{"id": "slow", "name": "S", "stream": 1, "mode": "ok", "seconds": 30}])
    holder = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json")
    wait_until(project.pids)
    forced = project.fnf("reset", "-t", "lead_scoring", "-s", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "stopped run" in forced.stdout and "with SIGTERM" in forced.stdout, forced.stdout
    assert holder.poll() is not None, "the holder ended before the reset returned"
    assert alive(project.pids()) == []
    out, err = holder.communicate()
    assert holder.returncode == 143 and json.loads(out)["outcome"] == "interrupted", err
    assert project.job("slow")["status"] == "JOB_TIMEOUT_KILLED"


def test_a_forced_reset_of_a_run_on_another_host_says_it_stops_at_its_next_heartbeat(project: Project) -> None:
    project.clients([{"id": "slow", "name": "S", "stream": 1, "mode": "ok", "seconds": 30}])
    holder = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json")
    wait_until(project.pids)
    project.set_run_host("elsewhere")
    forced = project.fnf("reset", "-t", "lead_scoring", "-s", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "runs on host elsewhere" in forced.stdout and "at its next heartbeat" in forced.stdout, forced.stdout
    _, err = holder.communicate(timeout=60)
    assert holder.returncode == 1, err
    assert "lost its stream" in err or "no longer holds" in err
    assert alive(project.pids()) == []


def test_doctor_reports_each_check(project: Project) -> None:
    if project.kind == "sqlite":
        missing = project.fnf("doctor")
        assert missing.returncode == 1 and "FAIL  store" in missing.stdout and "no fnf store at" in missing.stdout
    project.clients(rows(1))
    ok = project.fnf("doctor", "--json")
    assert ok.returncode == 0, ok.stdout
    checks = {c["check"]: c["state"] for c in json.loads(ok.stdout)}
    assert checks["config"] == checks["store"] == checks["schema"] == checks["handler lead_scoring"] == "ok"
    assert checks["alerts"] == "warn"
    bad = project.fnf("doctor", env={"FNF_HANDLER_POST_SCORING": "no_such_module:run"})
    assert bad.returncode == 1
    assert any(line.startswith("FAIL  handler post_scoring") for line in bad.stdout.splitlines())
    config = project.fnf("doctor", env={"MAX_CLIENT_PROCESSING_MINUTES": "ten"})
    assert config.returncode == 1 and "FAIL  config" in config.stdout and "'ten'" in config.stdout


def test_health_for_monitors(project: Project) -> None:
    project.clients(rows(4))
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1", "--job-timeout", "0.5s").returncode == 0
    unfinished = project.fnf("health")
    assert unfinished.returncode == 1
    assert "lead_scoring stream 1: has run recently but never finished a sweep" in unfinished.stdout
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    healthy = project.fnf("health", "--json")
    assert healthy.returncode == 0 and json.loads(healthy.stdout) == {"healthy": True, "checked": 1, "problems": []}
    old = project.fnf("health", "--max-age", "1ms")
    assert old.returncode == 1 and "last finished sweep" in old.stdout
    assert "(limit 0 seconds)" in old.stdout or "(limit 0.0" in old.stdout, old.stdout
    assert " h ago" not in old.stdout and " h)" not in old.stdout, "human units, not fractions of hours"


def test_streams_show_and_assign_preview_then_write(project: Project) -> None:
    project.clients(
        [{"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 0.05 * i} for i in range(1, 11)]
    )
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    shown = json.loads(project.fnf("streams", "show", "--json").stdout)
    assert [(s["stream"], s["clients"], s["unmeasured"]) for s in shown] == [(1, 10, 0)]
    preview = project.fnf("streams", "assign", "--streams", "3")
    assert "preview only: 6 client(s) would move" in preview.stdout
    assert "c02 (C2): stream 1 -> 2" in preview.stdout and "c03 (C3): stream 1 -> 3" in preview.stdout
    assert "warning" not in preview.stdout, "no run is live"
    assert {c["stream"] for c in project.status()["clients"]} == {1}
    written = json.loads(project.fnf("streams", "assign", "--streams", "3", "--yes", "--json").stdout)
    assert written["written"] and written["moved"] == 6 and written["live_runs"] == []
    assert {"id": "c02", "name": "C2", "from": 1, "to": 2} in written["moves"] and len(written["moves"]) == 6
    streams = {c["id"]: c["stream"] for c in project.status()["clients"]}
    assert [cid for cid, s in sorted(streams.items()) if s == 1] == ["c01", "c04", "c07", "c10"]
    balanced = json.loads(project.fnf("streams", "assign", "--streams", "3", "--balance", "--yes", "--json").stdout)
    seconds = [s["seconds"] for s in balanced["streams"]]
    assert max(seconds) - min(seconds) <= 0.5 + 0.2  # within the largest client (about 0.5 s)


def test_log_format_json_prints_one_object_per_line_naming_the_client(project: Project) -> None:
    project.clients(rows(2, seconds=0.0))
    result = project.fnf("--log-format", "json", "run", "-t", "lead_scoring", "-s", "1")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any("c1 (C1) COMPLETED" in line["message"] for line in lines)
    assert "\x1b[" not in result.stdout + result.stderr, "no escape codes without a terminal"
    bad = project.fnf("--log-format", "xml", "status")
    assert bad.returncode == 2 and "--log-format 'xml'" in bad.stderr


@pytest.mark.parametrize("columns", [80, 200])
def test_status_reads_well_at_80_and_200_columns_with_and_without_colour(project: Project, columns: int) -> None:
    project.clients(
        [
            {"id": "slow", "name": "Slow & Steady Holdings International", "stream": 1, "mode": "hang"},
            *rows(3, seconds=0.0),
        ]
    )
    project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "0.5s")
    focused = project.fnf("status", env={"COLUMNS": str(columns)}).stdout
    assert "Clients that need attention (1 of 4)" in focused and "CLIENT_TIMEOUT_KILLED" in focused
    assert "│ c0 " not in focused, "completed clients are listed with --all"
    assert max(len(line) for line in focused.splitlines()) <= columns
    plain = project.fnf("status", "--all", env={"COLUMNS": str(columns)})
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "\x1b[" not in plain.stdout
    text = plain.stdout
    assert "CLIENT_TIMEOUT_KILLED" in text and "COMPLETED" in text and "Slow & Steady" in text
    assert ("job_lead_stream1_" in text) == (columns >= 140)
    project.env.pop("NO_COLOR")
    coloured = project.fnf("status", "--all", env={"COLUMNS": str(columns), "FORCE_COLOR": "1"})
    assert "\x1b[" in coloured.stdout
    assert max(len(line) for line in re.sub(r"\x1b\[[0-9;]*m", "", coloured.stdout).splitlines()) <= columns


def test_plan_predicts_from_history_and_flags_what_would_not_fit(project: Project) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 0.4} for i in range(4)])
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    unknown = project.fnf("plan", "-t", "lead_scoring", "-s", "1", "--json", env={"MAX_JOB_PROCESSING_HOURS": "1"})
    rows = json.loads(unknown.stdout)
    assert [r["id"] for r in rows] == ["c0", "c1", "c2", "c3"] and all(r["fits"] for r in rows)
    assert all(0.3 < r["typical_seconds"] < 2.0 and not r["estimated"] for r in rows)
    tight = project.fnf("plan", "-t", "lead_scoring", "-s", "1", "--json", env={"MAX_JOB_PROCESSING_HOURS": "0.0003"})
    fits = [r["fits"] for r in json.loads(tight.stdout)]
    assert fits[0] and not fits[-1], fits
    text = project.fnf("plan", "-t", "lead_scoring", "-s", "1", env={"MAX_JOB_PROCESSING_HOURS": "0.0003"})
    assert "would not fit before the job deadline" in text.stdout and "(after the job deadline)" in text.stdout
    paired = json.loads(project.fnf("plan", "-t", "lead_scoring", "-s", "1", "-k", "2", "--json").stdout)
    assert paired[0]["start"] == paired[1]["start"], "two at once start together"
    assert paired[2]["start"] == min(paired[0]["finish"], paired[1]["finish"]), "the third takes the first free slot"


def test_status_filters_and_watch(project: Project) -> None:
    project.clients(
        [
            {"id": "bad", "name": "B", "stream": 1, "mode": "fail"},
            {"id": "good", "name": "G", "stream": 1, "mode": "ok"},
            {"id": "other", "name": "O", "stream": 2, "mode": "ok"},
        ]
    )
    project.fnf("run", "-t", "lead_scoring", "-s", "1")
    failed = project.status("--status", "failed")
    assert [c["id"] for c in failed["clients"]] == ["bad"]
    assert [c["id"] for c in project.status("--client", "good", "--client", "other")["clients"]] == ["good", "other"]
    assert [c["id"] for c in project.status("--stream", "2")["clients"]] == ["other"]
    bad = project.fnf("status", "--status", "LATE")
    assert bad.returncode == 2 and "--status 'LATE' is not a status" in bad.stderr
    watcher = project.popen("status", "--watch", "0.2", "--client", "good")
    assert watcher.stdout is not None
    seen = ""
    while seen.count("Stream 1 · lead_scoring") < 2:  # two refreshes drawn, however slow the machine
        line = watcher.stdout.readline()
        assert line, "the watch ended by itself"
        seen += line
    watcher.send_signal(signal.SIGINT)
    watcher.communicate(timeout=20)
    assert watcher.returncode == 0


def _run_on_a_terminal(project: Project, *args: str, columns: int = 120) -> tuple[int, str]:
    env = {**project.env, "COLUMNS": str(columns), "TERM": "xterm", "FNF_CIRCUIT_BREAKER_FAILURES": "0"}
    return on_a_terminal(project.command("run", "-t", "lead_scoring", "-s", "1", *args), project.path, env)


def test_on_a_terminal_run_shows_a_progress_bar_with_the_current_client(project: Project) -> None:
    project.clients(rows(3, seconds=0.4))
    code, screen = _run_on_a_terminal(project)
    assert code == 0
    assert "0/3" in screen and "3/3" in screen, "clients done / total"
    assert "c1 " in screen and "/10m" in screen, "the current client against its deadline"
    assert "h left" in screen, "the time left to the job deadline"
    assert "threads are running" not in screen
    assert "completed" in screen


def test_with_concurrency_the_progress_bar_counts_the_clients_in_flight(project: Project) -> None:
    project.clients(rows(4, seconds=1.0))
    code, screen = _run_on_a_terminal(project, "--concurrency", "3")
    assert code == 0
    assert "c0 " in screen and "/10m +2" in screen, "the longest-running client, and how many others"
    assert "4/4" in screen


def test_the_stream_overview_counts_the_open_sweep_and_estimates_what_is_left(project: Project) -> None:
    project.clients(
        [
            {"id": "bad", "name": "B", "stream": 1, "mode": "fail"},
            {"id": "slow", "name": "S", "stream": 1, "mode": "hang"},
            *rows(4, seconds=0.5),
        ]
    )
    project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "1s", "--job-timeout", "3s")
    (row,) = [r for r in project.status("--type", "lead_scoring")["streams"] if r["stream"] == 1]
    assert row["sweep_open"] and row["done"] + row["remaining"] == row["clients"] == 6
    assert (row["failed"], row["timed_out"]) == (1, 1)
    assert row["remaining"] >= 1 and row["eta_seconds"] is not None and row["eta_seconds"] > 0


def test_plan_takes_a_job_limit_and_says_when_durations_are_unknown(project: Project) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 0.4} for i in range(4)])
    fresh = project.fnf("plan", "-t", "lead_scoring", "-s", "1")
    assert fresh.returncode == 0
    assert "duration unknown (never ran)" in fresh.stdout and " -> " not in fresh.stdout
    assert "4 never ran, so their duration is unknown" in fresh.stdout
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    tight = project.fnf("plan", "-t", "lead_scoring", "-s", "1", "--job-timeout", "1s", "--json")
    fits = [r["fits"] for r in json.loads(tight.stdout)]
    assert fits[0] and not fits[-1], fits
    roomy = project.fnf("plan", "-t", "lead_scoring", "-s", "1", "--job-timeout", "1h", "--json")
    assert all(r["fits"] for r in json.loads(roomy.stdout))


def test_the_overview_keeps_a_finished_sweeps_result_and_fits_80_columns(project: Project) -> None:
    rows_ = [{"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "fail" if i < 2 else "ok"} for i in range(14)]
    project.clients(rows_)
    assert (
        project.fnf("run", "-t", "lead_scoring", "-s", "1", env={"FNF_CIRCUIT_BREAKER_FAILURES": "0"}).returncode == 0
    )
    stream = project.status("--type", "lead_scoring")["streams"][0]
    assert (stream["done"], stream["failed"], stream["last_sweep_finished"]) == (14, 2, True)
    narrow = project.fnf("status", "--overview", env={"COLUMNS": "80"}).stdout
    line = next(line for line in narrow.splitlines() if "lead" in line and "│" in line)
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert cells[:4] == ["lead", "1", "done", "14/14"], cells
    assert "2/0/0" in cells and "…" not in line
    assert all(len(line) <= 80 for line in narrow.splitlines())


def test_status_filtered_by_status_shows_only_the_matching_tables_and_a_running_clients_elapsed_time(
    project: Project, tmp_path: Path
) -> None:
    project.clients(
        [
            {"id": "bad", "name": "B", "stream": 1, "mode": "fail"},
            {"id": "gated", "name": "G", "stream": 1, "mode": "gate"},
        ]
    )
    gate = tmp_path / "gate"
    env = {"FNF_TEST_GATE": str(gate), "FNF_CIRCUIT_BREAKER_FAILURES": "0", "HEARTBEAT_INTERVAL_MINUTES": "1s"}
    run = project.popen("run", "-t", "lead_scoring", "-s", "1", env=env)
    wait_until(Path(f"{gate}.waiting").exists, 60)
    wait_until(lambda: project.job("gated")["status"] == "RUNNING", 30)
    failed = project.fnf("status", "--status", "FAILED", env={"COLUMNS": "200"}).stdout
    assert "Stream 1 · lead_scoring · 1 client(s)" in failed
    assert "Stream 1 · post_scoring" not in failed and "Stream 1 · post_harvesting" not in failed, failed
    running = project.fnf("status", "--status", "RUNNING", env={"COLUMNS": "200"}).stdout
    line = next(line for line in running.splitlines() if "│ gated" in line)
    assert " so far" in line, line
    gate.touch()
    run.communicate(timeout=60)


def test_busy_ticks_are_folded_in_history_and_the_live_run_is_the_last_outcome(
    project: Project, tmp_path: Path
) -> None:
    project.clients([{"id": "gated", "name": "G", "stream": 1, "mode": "gate"}])
    gate = tmp_path / "gate"
    run = project.popen("run", "-t", "lead_scoring", "-s", "1", env={"FNF_TEST_GATE": str(gate)})
    wait_until(Path(f"{gate}.waiting").exists, 60)
    for _ in range(3):
        assert json.loads(project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json").stdout)["outcome"] == "busy"
    history = project.fnf("history", env={"COLUMNS": "200"}).stdout
    assert "busy x3" in history and history.count("busy") == 1, history
    assert len(json.loads(project.fnf("history", "--json").stdout)) == 4, "--json keeps every run"
    overview = project.fnf("status", "--overview", env={"COLUMNS": "200"}).stdout
    line = next(line for line in overview.splitlines() if "│ lead_scoring" in line)
    assert line.rstrip(" │").endswith("running"), line
    gate.touch()
    run.communicate(timeout=60)


def test_at_80_columns_the_progress_bar_stays_on_one_line_and_counts_failures(project: Project) -> None:
    import re

    project.clients(
        [
            {
                "id": f"c{i}",
                "name": f"A long client name {i}",
                "stream": 1,
                "mode": "fail" if i % 2 else "ok",
                "seconds": 0.4,
            }
            for i in range(4)
        ]
    )
    code, screen = _run_on_a_terminal(project, columns=80)
    assert code == 0
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", part) for part in screen.split("\r")]
    bars = [frame for frame in frames if "/4" in frame and "left" in frame]
    assert bars and all(len(line) <= 80 for frame in bars for line in frame.splitlines()), bars[-1:]
    # c1 fails first and c2 then runs 0.4 s: the bar shows the count while it does (the end may
    # come before a refresh draws "2 failed")
    assert any("1 failed" in frame for frame in bars), bars[-3:]
