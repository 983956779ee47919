"""The watchdog against real processes that misbehave.

Each scenario runs in a forked helper process, so that the runner-side subreaper setting and
any orphans stay out of pytest's own process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from processes import alive, read_pids, wait_until

from fnf.config import HandlerSpec
from fnf.handlers import resolve
from fnf.models import Client, JobType
from fnf.proc.executor import ProcessExecutor, WatchedChild
from fnf.proc.signals import StopFlag
from fnf.proc.work import ChildResult, ResultKind, Work

DEADLINE = 1.0
GRACE = 0.5
LEAD = JobType.LEAD_SCORING


def isolated(fn: Callable[..., Any], *args: Any) -> Any:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()

    def target() -> None:
        try:
            child.send(("ok", fn(*args)))
        except BaseException as exc:
            child.send(("error", repr(exc)))

    process = ctx.Process(target=target)
    process.start()
    kind, value = parent.recv()
    process.join()
    if kind == "error":
        raise AssertionError(value)
    return value


def stop(child: WatchedChild, grace: float) -> ChildResult:
    """The runner's way of stopping one client: SIGTERM, up to ``grace`` seconds, then SIGKILL."""
    child.terminate()
    end = time.monotonic() + grace
    while (left := end - time.monotonic()) > 0:
        result = child.wait(left)
        if result is not None:
            return result
    return child.kill(f"killed by SIGKILL after {grace:g} s grace")


def run_one(
    spec_kind: str, spec_value: str, fields: dict[str, str], deadline: float = DEADLINE, grace: float = GRACE
) -> dict[str, Any]:
    """Start one client, wait to its deadline, stop it; report what happened and the timings."""
    spec = HandlerSpec(LEAD, spec_kind, spec_value, "TEST")
    handler = resolve(spec, os.environ)
    workdir = Path(tempfile.mkdtemp())
    executor = ProcessExecutor(workdir, dict(os.environ), StopFlag(), log_cap=4096)
    client = Client("c1", "x; rm -rf ~ $(reboot)", 1, fields)
    t0 = time.monotonic()
    work = Work(client, LEAD, "job_lead_stream1_x", "run1", 1, datetime.now(UTC), t0 + deadline, handler)
    child = executor.start(work)
    result = child.wait(deadline)
    timed_out = result is None
    if result is None:
        result = stop(child, grace)
    elapsed = time.monotonic() - t0
    return {
        "kind": result.kind.value,
        "count": result.count,
        "message": result.message,
        "elapsed": elapsed,
        "timed_out": timed_out,
        "leftover": os.listdir(workdir),
    }


@pytest.fixture
def pids_file(tmp_path: Path) -> Path:
    return tmp_path / "pids"


PY = ("python", "fnf_test_handlers:work")


@pytest.mark.parametrize("mode", ["hang", "ignore_term", "busy", "grandchild_stdout", "escape"])
def test_misbehaving_clients_are_killed_at_the_deadline(mode: str, pids_file: Path) -> None:
    outcome = isolated(run_one, *PY, {"mode": mode, "pids": str(pids_file)})
    assert outcome["timed_out"]
    assert outcome["kind"] == ResultKind.STOPPED.value
    assert outcome["elapsed"] < DEADLINE + GRACE + 10.0  # the work would run for an hour
    if mode == "ignore_term":
        assert "SIGKILL" in outcome["message"]
        assert outcome["elapsed"] >= DEADLINE + GRACE - 0.05
    pids = read_pids(pids_file)
    assert pids, "the handler ran"
    assert alive(pids) == []
    assert outcome["leftover"] == []


def test_escaped_command_grandchild_is_killed(pids_file: Path) -> None:
    script = f"echo $$ >> {pids_file}; setsid sh -c 'echo $$ >> {pids_file}; exec sleep 3600' & sleep 3600"
    outcome = isolated(run_one, "command", f'sh -c "{script}"', {})
    assert outcome["kind"] == "stopped"
    time.sleep(0.05)
    assert len(read_pids(pids_file)) == 2
    assert alive(read_pids(pids_file)) == []


def test_a_grandchild_holding_stdout_does_not_hold_up_a_finished_client(pids_file: Path) -> None:
    # the grandchild holds the work's stdout for an hour; the work's end is reported well before
    outcome = isolated(run_one, *PY, {"mode": "grandchild_stdout_exit", "pids": str(pids_file)}, 30.0)
    assert not outcome["timed_out"]
    assert (outcome["kind"], outcome["count"]) == ("succeeded", 5)
    assert alive(read_pids(pids_file)) == []


def test_twenty_megabytes_of_output_completes_normally() -> None:
    outcome = isolated(run_one, *PY, {"mode": "flood"}, 10.0)
    assert (outcome["kind"], outcome["count"]) == ("succeeded", 20)


def test_command_count_is_the_final_stdout_line() -> None:
    outcome = isolated(run_one, "command", 'sh -c \'echo working; echo "{\\"count\\": 12}"\'', {})
    assert (outcome["kind"], outcome["count"], outcome["message"]) == ("succeeded", 12, None)


def test_command_printing_garbage_and_exiting_zero_is_completed_with_a_warning() -> None:
    outcome = isolated(run_one, "command", "sh -c 'echo {not json'", {})
    assert (outcome["kind"], outcome["count"]) == ("succeeded", None)
    assert 'without a final stdout line {"count": N}' in outcome["message"]
    assert "{not json" in outcome["message"]


def test_command_exit_code_and_stderr_are_reported() -> None:
    outcome = isolated(run_one, "command", "sh -c 'echo token expired >&2; exit 4'", {})
    assert outcome["kind"] == "failed"
    assert outcome["message"] == "exited with code 4: token expired"


def test_client_data_reaches_a_command_as_plain_arguments_and_environment(tmp_path: Path) -> None:
    out = tmp_path / "args"
    script = tmp_path / "show.sh"
    script.write_text(f'printf "%s\\n" "$1" "$FNF_CLIENT_NAME" "$FNF_JOB_ID" > {out}\necho \'{{"count": 1}}\'\n')
    outcome = isolated(run_one, "command", f"sh {script} {{client_name}}", {})
    assert outcome["kind"] == "succeeded"
    assert out.read_text().splitlines() == ["x; rm -rf ~ $(reboot)", "x; rm -rf ~ $(reboot)", "job_lead_stream1_x"]


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("fail", "RuntimeError: upstream rejected x; rm -rf ~ $(reboot)"),
        ("exit3", "exited with code 3"),
        ("abort", "killed by SIGABRT"),
        ("bad_return", "handler returned 'twelve' (str)"),
    ],
)
def test_python_failures_are_classified(mode: str, fragment: str) -> None:
    outcome = isolated(run_one, *PY, {"mode": mode})
    assert outcome["kind"] == "failed"
    assert fragment in outcome["message"]


def test_python_handler_count() -> None:
    outcome = isolated(run_one, *PY, {"mode": "ok", "count": "42"})
    assert (outcome["kind"], outcome["count"]) == ("succeeded", 42)


def _runner_that_gets_killed(pids_file: str, ready_file: str, kind: str) -> None:
    executor = ProcessExecutor(Path(tempfile.mkdtemp()), dict(os.environ), StopFlag())
    if kind == "python":
        spec = HandlerSpec(LEAD, "python", "fnf_test_handlers:work", "T")
    else:  # a spawned command, and a grandchild that left its session
        script = f"echo $$ >> {pids_file}; setsid sh -c 'echo $$ >> {pids_file}; exec sleep 3600' & sleep 3600"
        spec = HandlerSpec(LEAD, "command", f'sh -c "{script}"', "T")
    client = Client("c1", "n", 1, {"mode": "grandchild_stdout", "pids": pids_file})
    executor.start(Work(client, LEAD, "j", "r", 1, datetime.now(UTC), time.monotonic() + 60, resolve(spec, os.environ)))
    Path(ready_file).touch()
    time.sleep(3600)


@pytest.mark.parametrize("kind", ["python", "command"])
def test_killing_the_runner_with_sigkill_takes_the_whole_tree_down(tmp_path: Path, kind: str) -> None:
    pids_file, ready = tmp_path / "pids", tmp_path / "ready"
    ctx = multiprocessing.get_context("fork")
    runner = ctx.Process(target=_runner_that_gets_killed, args=(str(pids_file), str(ready), kind))
    runner.start()
    wait_until(lambda: len(read_pids(pids_file)) >= 2, 10)
    tree = read_pids(pids_file)
    assert len(tree) == 2 and alive(tree) == tree
    assert runner.pid is not None
    os.kill(runner.pid, signal.SIGKILL)
    runner.join()
    wait_until(lambda: alive(tree) == [], 10)


def test_a_signal_to_the_runner_is_noticed_while_it_waits(tmp_path: Path) -> None:
    script = tmp_path / "waiter.py"
    script.write_text(
        "import os, sys, time, tempfile\n"
        "from pathlib import Path\n"
        "from datetime import datetime, UTC\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from fnf.config import HandlerSpec\n"
        "from fnf.handlers import resolve\n"
        "from fnf.models import Client, JobType\n"
        "from fnf.proc.signals import SignalGuard, StopFlag\n"
        "from fnf.proc.executor import ProcessExecutor\nfrom fnf.proc.work import Work\n"
        "flag = StopFlag()\n"
        "with SignalGuard(flag):\n"
        "    ex = ProcessExecutor(Path(tempfile.mkdtemp()), dict(os.environ), flag)\n"
        "    h = resolve(HandlerSpec(JobType.LEAD_SCORING, 'python', 'fnf_test_handlers:work', 'T'), os.environ)\n"
        "    c = ex.start(Work(Client('c', 'n', 1, {'mode': 'hang'}), JobType.LEAD_SCORING, 'j', 'r', 1,\n"
        "                      datetime.now(UTC), time.monotonic() + 60, h))\n"
        "    print('ready', flush=True)\n"
        "    t0 = time.monotonic()\n"
        "    while c.wait(30) is None and not flag.requested:\n"
        "        pass\n"
        "    print(f'noticed {flag.reason} after {time.monotonic() - t0:.3f}', flush=True)\n"
        "    c.terminate()\n"
        "    c.kill()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    line = proc.stdout.readline().split()
    proc.wait(timeout=5)
    assert line[:2] == ["noticed", "SIGTERM"]
    assert float(line[-1]) < 1.0


def test_output_reaches_the_log_prefixed_and_capped_keeping_head_and_tail(caplog: pytest.LogCaptureFixture) -> None:
    def go() -> list[str]:
        import logging

        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record.getMessage())

        logging.getLogger("fnf.child").addHandler(Keep())
        logging.getLogger("fnf.child").setLevel(logging.INFO)
        run_one(*PY, {"mode": "flood"}, 10.0)
        return records

    lines = isolated(go)
    assert all(line.startswith("[c1 out] ") for line in lines)
    assert len(lines) <= 6  # 4 KiB cap / 1 KiB lines, plus the note
    notes = [n for n, line in enumerate(lines) if "bytes of output not logged" in line]
    assert len(notes) == 1 and 0 < notes[0] < len(lines) - 1, lines  # the head, the note, the tail


def _many_clients_in_few_files(total: int, at_once: int) -> dict[str, Any]:
    spec = HandlerSpec(LEAD, "python", "fnf_test_handlers:work", "TEST")
    handler = resolve(spec, os.environ)
    workdir = Path(tempfile.mkdtemp())
    executor = ProcessExecutor(workdir, dict(os.environ), StopFlag(), log_cap=4096)
    names: set[str] = set()
    counts: list[int | None] = []
    started = 0
    flight: list[Any] = []
    while started < total or flight:
        while started < total and len(flight) < at_once:
            client = Client(f"c{started}", "x", 1, {"mode": "ok", "count": str(started)})
            work = Work(client, LEAD, "job", "run1", 1, datetime.now(UTC), time.monotonic() + 30, handler)
            flight.append(executor.start(work))
            started += 1
            names.update(path.name.split(".")[0] for path in workdir.iterdir())
        executor.wait_any(flight, 5.0)
        for child in list(flight):
            result = child.wait(0)
            if result is not None:
                flight.remove(child)
                counts.append(result.count)
    return {"names": sorted(names), "counts": sorted(c or 0 for c in counts), "left": list(workdir.iterdir())}


def test_a_long_run_reuses_a_few_file_names_and_each_result_is_its_own() -> None:
    seen = isolated(_many_clients_in_few_files, 40, 3)
    assert len(seen["names"]) <= 3, seen["names"]  # one set of files per slot, not per client
    assert seen["counts"] == list(range(40)), "each client read its own result, never a neighbour's"
    assert seen["left"] == []


def _stop_after_it_finished() -> dict[str, Any]:
    """The deadline's stop reaches a client that has just finished: its work is done and counted."""
    spec = HandlerSpec(LEAD, "python", "fnf_test_handlers:work", "TEST")
    executor = ProcessExecutor(Path(tempfile.mkdtemp()), dict(os.environ), StopFlag(), log_cap=4096)
    now = time.monotonic()
    work = Work(Client("c1", "C1", 1, {}), LEAD, "job", "run1", 1, datetime.now(UTC), now + 5, resolve(spec, {}))
    child = executor.start(work)
    wait_until(lambda: executor.wait_any([child], 0.05) or child.ended, 10)  # the server reported: it ended
    result = stop(child, GRACE)
    return {"kind": result.kind.value, "count": result.count}


def test_a_stop_that_comes_after_the_work_finished_keeps_its_result() -> None:
    assert isolated(_stop_after_it_finished) == {"kind": "succeeded", "count": 3}


def test_a_command_starts_with_default_signal_handling(tmp_path: Path) -> None:
    # fnf's processes ignore SIGPIPE, SIGXFSZ and (the server) SIGTERM, SIGINT and SIGHUP; a command
    # must not inherit that: `yes | head` would spin, a file-size limit would not stop a runaway log
    out = tmp_path / "status"
    outcome = isolated(run_one, "command", f"sh -c 'grep -E ^Sig\\(Ign\\|Blk\\) /proc/self/status > {out}'", {})
    assert outcome["kind"] == "succeeded", outcome
    masks = dict(line.split(":") for line in out.read_text().splitlines())
    standard = (1 << 31) - 1  # signals 1-31 (glibc's spawn leaves its own thread signals 32 and 33 ignored)
    assert {name: int(mask, 16) & standard for name, mask in masks.items()} == {"SigBlk": 0, "SigIgn": 0}


def _two_commands_one_abandons_a_daemon(tmp_path: Path) -> dict[str, Any]:
    """Client a starts a daemon (its own session, its parent gone) and waits for a gate; client b
    ends meanwhile. What a abandoned is a's until a ends, then it is killed."""
    pids, gate = tmp_path / "pids", tmp_path / "gate"
    keeper = f"(setsid sleep 3600 & echo $! >> {pids}); while [ ! -e {gate} ]; do sleep 0.02; done"
    executor = ProcessExecutor(Path(tempfile.mkdtemp()), dict(os.environ), StopFlag(), log_cap=4096)
    now = time.monotonic()

    def start(client: str, command: str) -> WatchedChild:
        handler = resolve(HandlerSpec(LEAD, "command", command, "TEST"), os.environ)
        work = Work(Client(client, client, 1, {}), LEAD, "job", "run1", 1, datetime.now(UTC), now + 60, handler)
        return executor.start(work)

    a = start("a", f'sh -c "{keeper}"')
    wait_until(lambda: read_pids(pids), 10)
    b = start("b", "true")
    while b.wait(1) is None:
        pass
    daemon_after_b = alive(read_pids(pids))
    gate.touch()
    while (result := a.wait(1)) is None:
        pass
    return {
        "after_b": daemon_after_b,
        "daemon": read_pids(pids),
        "a": result.kind.value,
        "after_a": alive(read_pids(pids)),
    }


def test_what_a_running_command_abandoned_lives_until_that_command_ends(tmp_path: Path) -> None:
    seen = isolated(_two_commands_one_abandons_a_daemon, tmp_path)
    assert seen["after_b"] == seen["daemon"] != [], "another client's end must not kill a's daemon"
    assert seen["a"] == "succeeded"
    assert seen["after_a"] == []


def test_a_command_that_cannot_be_started_fails_with_the_reason(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho '{\"count\": 1}'\n")
    script.chmod(0o755)

    def start_after_it_lost_its_mode() -> list[tuple[str, str | None]]:
        handler = resolve(HandlerSpec(LEAD, "command", str(script), "TEST"), os.environ)
        executor = ProcessExecutor(Path(tempfile.mkdtemp()), dict(os.environ), StopFlag(), log_cap=4096)
        outcomes = []
        for client in ("c1", "c2"):  # c1 while it could run; by c2's start it cannot
            work = Work(
                Client(client, client, 1, {}), LEAD, "j", "r", 1, datetime.now(UTC), time.monotonic() + 30, handler
            )
            child = executor.start(work)
            while (result := child.wait(1)) is None:
                pass
            outcomes.append((result.kind.value, result.message))
            script.chmod(0o644)
        return outcomes

    first, second = isolated(start_after_it_lost_its_mode)
    assert first == ("succeeded", None)
    assert second[0] == "failed"
    assert f"cannot run '{script}': Permission denied" in str(second[1]), second
