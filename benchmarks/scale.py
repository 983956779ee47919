"""Scale: a 100,000-client SQLite store. `fnf status` and the start of a run, against 1,000 clients.

    python benchmarks/scale.py [--clients 100000] [--repeat 3]

Builds a store of --clients clients in three streams (and one of a hundredth as many, the
baseline measured in the same run), then times, median of --repeat:

* ``fnf status --overview``: streams and recent runs;
* ``fnf status``: the overview plus the clients that need attention (at most 50 rows);
* ``fnf status --all``: the overview plus every stream's client tables (at most 50 rows each);
* ``fnf status --json``: the whole document, every client;
* run start: from launching ``fnf run`` on a 33,000-client stream until its first client's
  handler is running (the run is then stopped with SIGTERM);
* run start, one stream with states: the same on a store whose --clients clients are all in one
  stream and all have a state from an earlier sweep (every cron tick after the first sweep).

Also reports each command's peak RSS (sampled every 10 ms). Targets at 100,000 clients: overview
under 2 s, run start on the one stream with states within 1 s; memory bounded.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _setup import FNF, import_clients, project_env

HANDLER = """
import os, time

def noop(client, ctx):
    return 0

def mark(client, ctx):
    with open(os.environ["BENCH_MARK"], "w") as f:
        f.write(repr(time.time()))
    time.sleep(600)
"""


def watched(command: list[str], env: dict[str, str], cwd: Path, until: Path | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command; with ``until``, seconds until that file appears."""
    started = time.time()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    seconds = None
    while proc.poll() is None:
        try:
            peak = max(peak, psutil.Process(proc.pid).memory_info().rss / 2**20)
        except psutil.Error:
            pass
        if until is not None and until.exists() and until.read_text():
            seconds = float(until.read_text()) - started
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            until.unlink()
            break
        time.sleep(0.01)
    return (seconds if seconds is not None else time.time() - started), peak


def measure(directory: Path, env: dict[str, str], clients: int, repeat: int) -> dict[str, dict[str, float]]:
    env = {**env, "FNF_DB": str(directory / f"fnf-{clients}.db")}
    fnf = FNF
    began = time.perf_counter()
    import_clients(directory, env, (f"c{i:06d},Client {i},{i % 3 + 1}" for i in range(clients)))
    imported = time.perf_counter() - began
    mark = directory / "mark"
    commands = {
        "status --overview": ([*fnf, "status", "--overview"], None),
        "status": ([*fnf, "status"], None),
        "status --all": ([*fnf, "status", "--all"], None),
        "status --json": ([*fnf, "status", "--json"], None),
        "run start": ([*fnf, "run", "-t", "lead_scoring", "-s", "1", "--new-sweep"], mark),
    }
    figures: dict[str, dict[str, float]] = {"clients import": {"seconds": round(imported, 3), "peak_mb": 0.0}}
    for name, (command, until) in commands.items():
        runs = [watched(command, {**env, "BENCH_MARK": str(mark)}, directory, until) for _ in range(repeat)]
        figures[name] = {
            "seconds": round(statistics.median(s for s, _ in runs), 3),
            "peak_mb": round(max(p for _, p in runs), 1),
        }
    return figures


def one_stream(directory: Path, env: dict[str, str], clients: int, repeat: int) -> dict[str, float]:
    """Run start on one stream of ``clients`` clients that all have a state. The first client's
    state is written by a real run; the others get copies of it in one SQL statement (a real first
    sweep of 100,000 clients would take most of an hour)."""
    db = directory / f"one-{clients}.db"
    env = {**env, "FNF_DB": str(db)}
    import_clients(directory, env, (f"c{i:06d},Client {i},1" for i in range(clients)), f"one-{clients}.csv")
    first = [*FNF, "run", "-t", "lead_scoring", "-s", "1", "--client", "c000000"]
    noop = {**env, "FNF_HANDLER_LEAD_SCORING": "bench_handler:noop"}
    subprocess.run(first, env=noop, cwd=directory, check=True, stdout=subprocess.DEVNULL)
    with sqlite3.connect(db) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(client_jobs)")]
        copied = ", ".join("c.id" if name == "client_id" else f"t.{name}" for name in columns)
        connection.execute(
            f"INSERT INTO client_jobs ({', '.join(columns)}) SELECT {copied} FROM clients c "
            "JOIN client_jobs t ON t.client_id = 'c000000' WHERE c.id <> 'c000000'"
        )
    mark = directory / "mark"
    command = [*FNF, "run", "-t", "lead_scoring", "-s", "1", "--new-sweep"]
    runs = [watched(command, {**env, "BENCH_MARK": str(mark)}, directory, mark) for _ in range(repeat)]
    return {"seconds": round(statistics.median(s for s, _ in runs), 3), "peak_mb": round(max(p for _, p in runs), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    small = max(3, args.clients // 100)
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        env = project_env(directory, HANDLER, "mark")
        base = measure(directory, env, small, args.repeat)
        big = measure(directory, env, args.clients, args.repeat)
        base["run start, one stream with states"] = one_stream(directory, env, small, args.repeat)
        big["run start, one stream with states"] = one_stream(directory, env, args.clients, args.repeat)
    print(f"{'command':<34} {small:>9} clients {args.clients:>9} clients {'ratio':>6} {'peak MB':>8}")
    for name in big:
        ratio = big[name]["seconds"] / base[name]["seconds"] if base[name]["seconds"] else 0.0
        print(f"{name:<34} {base[name]['seconds']:>15.3f} s {big[name]['seconds']:>15.3f} s {ratio:>5.1f}x "
              f"{big[name]['peak_mb']:>8.1f}")  # fmt: skip
    print("targets at 100,000 clients: status --overview under 2 s; run start, one stream with states, within 1 s")
    print(json.dumps({"benchmark": "scale", "clients": args.clients, "baseline_clients": small,
                      "figures": big, "baseline": base}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
