"""Deadline precision: from a client's deadline until the last process of its group is gone.

    python benchmarks/deadline_precision.py [--clients 50] [--timeout 0.5] [--grace 0.5]

Clients that overrun in five ways (sleep, SIGTERM ignored, busy loop, a grandchild holding stdout,
a grandchild that escaped with setsid) run under ``fnf run`` with a client limit and a grace
period, twice: as a Python-callable handler (forked by the process server) and as a command
(``python -c ...``, spawned by it). Each handler writes the pids of its process group; a watcher
polls them every 2 ms and notes when the last one is gone (exited or a zombie). Reported: seconds
from the deadline (start + limit) until then; "beyond grace" subtracts the grace period (negative:
the client obeyed SIGTERM before the grace ran out).

Baseline, in the same run: GNU ``timeout -k GRACE LIMIT`` around a fresh interpreter doing the same,
the usual shell answer. It signals its process group, so a grandchild that left the group with
setsid outlives it.

Prints a table and one JSON line. Target: p99 within 0.02 s beyond the grace period for every kind
of client, for both kinds of handler.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

KINDS = ("sleep", "ignore_term", "busy", "grandchild", "escape")
HANDLERS = ("python", "command")

HANDLER_MODULE = r"""
import os, signal, subprocess, sys, time

def _pids(name, extra=()):
    path = os.path.join(os.environ["BENCH_PIDS"], name)
    with open(path, "w") as out:
        out.write(" ".join(str(p) for p in (os.getpid(), *extra)))

def overrun(kind, name):
    if kind == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if kind in ("grandchild", "escape"):
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            stdout=sys.stdout,
            start_new_session=kind == "escape",
        )
        _pids(name, [child.pid])
    else:
        _pids(name)
    if kind == "busy":
        while True:
            pass
    time.sleep(600)

def work(client, ctx):
    overrun(client.fields["kind"], client.id)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Watcher:
    """Notes when every pid written to the directory is gone."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.gone: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for path in list(self.directory.iterdir()):
                if path.name in self.gone:
                    continue
                try:
                    pids = [int(p) for p in path.read_text().split()]
                except (OSError, ValueError):
                    continue
                if pids and not any(alive(p) for p in pids):
                    self.gone[path.name] = time.time()
            time.sleep(0.002)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


COMMAND = (
    f"{sys.executable} -c 'import sys, bench_overrun; bench_overrun.overrun(sys.argv[1], sys.argv[2])' "
    "{client_name} {client_id}"
)
"""The same overrun as a command: the client's name is its kind."""


def run_fnf(n: int, limit: float, grace: float, directory: Path, handler: str) -> dict[str, list[float]]:
    directory = directory / handler
    pids = directory / "pids"
    pids.mkdir(parents=True)
    csv = directory / "clients.csv"
    kinds = [KINDS[i % len(KINDS)] for i in range(n)]
    csv.write_text("id,name,stream,kind\n" + "".join(f"c{i:03d},{kind},1,{kind}\n" for i, kind in enumerate(kinds)))
    env = {
        **os.environ,
        "FNF_DB": str(directory / "fnf.db"),
        "FNF_ENV_FILE": str(directory / "none.env"),
        "FNF_HANDLER_LEAD_SCORING": "bench_overrun:work" if handler == "python" else "",
        "FNF_COMMAND_LEAD_SCORING": COMMAND if handler == "command" else "",
        "PYTHONPATH": str(directory.parent),
        "BENCH_PIDS": str(pids),
    }
    fnf = [sys.executable, "-m", "fnf", "-q"]
    subprocess.run([*fnf, "clients", "import", str(csv)], env=env, check=True, cwd=directory, capture_output=True)
    with Watcher(pids) as watcher:
        subprocess.run(
            [*fnf, "run", "-t", "lead_scoring", "-s", "1", "--client-timeout", f"{limit}s", "--grace", f"{grace}s"],
            env=env,
            check=True,
            cwd=directory,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.2)
    starts: dict[str, tuple[str, float]] = {}
    with sqlite3.connect(directory / "fnf.db") as db:
        for client_id, started, kind in db.execute(
            "SELECT j.client_id, j.last_run_date, c.fields FROM client_jobs j JOIN clients c ON c.id = j.client_id"
        ):
            starts[client_id] = (
                json.loads(kind)["kind"],
                datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp(),
            )
    overshoot: dict[str, list[float]] = {k: [] for k in KINDS}
    for client_id, (kind, started) in starts.items():
        gone = watcher.gone.get(client_id)
        overshoot[kind].append((gone if gone is not None else float("inf")) - (started + limit))
    return overshoot


def run_timeout(per_kind: int, limit: float, grace: float, directory: Path) -> dict[str, list[float]]:
    pids = directory / "pids-timeout"
    pids.mkdir()
    env = {**os.environ, "PYTHONPATH": str(directory), "BENCH_PIDS": str(pids)}
    overshoot: dict[str, list[float]] = {k: [] for k in KINDS}
    with Watcher(pids) as watcher:
        for kind in KINDS:
            for index in range(per_kind):
                name = f"t-{kind}-{index}"
                started = time.time()
                subprocess.run(
                    ["timeout", "-k", f"{grace}s", f"{limit}s", sys.executable, "-c",
                     f"import bench_overrun; bench_overrun.overrun({kind!r}, {name!r})"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
                deadline = time.monotonic() + 3
                while name not in watcher.gone and time.monotonic() < deadline:
                    time.sleep(0.01)
                gone = watcher.gone.get(name)
                overshoot[kind].append((gone if gone is not None else float("inf")) - (started + limit))
                path = pids / name
                for pid in path.read_text().split() if path.exists() else []:  # what timeout left behind
                    try:
                        os.kill(int(pid), 9)
                    except OSError:
                        pass
    return overshoot


def _show(value: float | None) -> str:
    if value is None:
        return "-"
    return "never" if value == float("inf") else f"{value:.3f}"


def _json(value: float | int | None) -> float | int | str | None:
    if value is None:
        return None
    if value == float("inf"):
        return "never"
    return round(value, 3) if isinstance(value, float) else value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=0.5, help="client limit, seconds")
    parser.add_argument("--grace", type=float, default=0.5, help="grace between SIGTERM and SIGKILL, seconds")
    parser.add_argument("--baseline-per-kind", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("timeout"):
        print("the baseline needs GNU timeout on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        (directory / "bench_overrun.py").write_text(HANDLER_MODULE)
        runs = {handler: run_fnf(args.clients, args.timeout, args.grace, directory, handler) for handler in HANDLERS}
        baseline = run_timeout(args.baseline_per_kind, args.timeout, args.grace, directory)
    print(f"seconds from the deadline until the client's last process is gone ({args.clients} clients per "
          f"handler, limit {args.timeout} s, grace {args.grace} s)")  # fmt: skip
    print(f"{'kind':<12} {'python p50':>10} {'python p99':>10} {'command p50':>11} {'command p99':>11} "
          f"{'timeout p50':>11} {'timeout max':>11}")  # fmt: skip
    figures = {kind: _figures(kind, runs, baseline[kind]) for kind in KINDS}
    for kind, row in figures.items():
        print(
            f"{kind:<12} {_show(row['python_p50']):>10} {_show(row['python_p99']):>10} {_show(row['command_p50']):>11} "
            f"{_show(row['command_p99']):>11} {_show(row['timeout_p50']):>11} {_show(row['timeout_max']):>11}"
        )
    p99s = [row[f"{h}_p99"] for row in figures.values() for h in HANDLERS if row[f"{h}_p99"] is not None]
    worst = max(p99s) - args.grace if p99s else None
    print(f"worst fnf p99 beyond the grace period: {_show(worst)} s (target within 0.02 s); "
          "'never' = still running 3 s after the deadline")  # fmt: skip
    clean = {k: {kk: _json(vv) for kk, vv in v.items()} for k, v in figures.items()}
    print(json.dumps({"benchmark": "deadline_precision", "limit": args.timeout, "grace": args.grace,
                      "worst_p99_beyond_grace": _json(worst), "kinds": clean}))  # fmt: skip
    return 0


def _figures(kind: str, runs: dict[str, dict[str, list[float]]], theirs: list[float]) -> dict[str, float | int | None]:
    row: dict[str, float | int | None] = {}
    for handler, overshoot in runs.items():
        ours = overshoot[kind]
        row[f"{handler}_p50"] = percentile(ours, 0.5) if ours else None
        row[f"{handler}_p99"] = percentile(ours, 0.99) if ours else None
        row[f"{handler}_max"] = max(ours) if ours else None
        row[f"{handler}_measured"] = len(ours)
    row["timeout_p50"] = percentile(theirs, 0.5) if theirs else None
    row["timeout_max"] = max(theirs) if theirs else None
    return row


if __name__ == "__main__":
    sys.exit(main())
