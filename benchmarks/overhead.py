"""Per-client overhead: fnf against a shell loop and against an in-process floor, same run.

    python benchmarks/overhead.py [--clients 1000] [--shell-sample 100]

Every variant runs the same do-nothing handler for each client and records a status per
client in SQLite:

* floor  - a plain Python loop calling the handler in-process, one SQLite commit per client,
           no isolation and no deadline (the least any runner can cost);
* fnf    - ``fnf run`` on the SQLite store with a Python-callable handler: a watched process
           group per client, a deadline, the lease, heartbeats, two transactions per client;
* fnf_command - the same with a command handler (``/bin/echo`` printing the count), started by the process server;
* shell  - ``timeout 600 python -c ...`` per client (a fresh interpreter each time) and a
           ``sqlite3`` status write, the loop fnf replaces. It is timed on --shell-sample
           clients and reported per client.

Prints a table and one JSON line. Target: each fnf variant at least 10x faster than the shell loop
(the floor is shown for scale: no isolated runner can reach it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import import_clients, project_env

ECHO_COUNT = """/bin/echo '{"count": 0}'"""
"""A command that does nothing and reports its count as fnf asks (the last stdout line)."""

HANDLER_MODULE = """
def noop(client, ctx):
    return 0
"""


def floor(n: int, directory: Path) -> float:
    sys.path.insert(0, str(directory))
    from bench_handler import noop  # type: ignore[import-not-found]

    db = sqlite3.connect(directory / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE status (id TEXT PRIMARY KEY, status TEXT, count INTEGER)")
    started = time.perf_counter()
    for index in range(n):
        count = noop({"id": index}, None)
        db.execute("INSERT OR REPLACE INTO status VALUES (?, 'COMPLETED', ?)", (f"c{index}", count))
    return (time.perf_counter() - started) / n


def fnf(n: int, directory: Path, **extra: str) -> float:
    directory.mkdir(exist_ok=True)
    env = project_env(directory, HANDLER_MODULE, **extra)
    import_clients(directory, env, (f"c{i},Client {i},1" for i in range(n)), "clients.csv")
    fnf_cmd = [sys.executable, "-m", "fnf"]
    started = time.perf_counter()
    subprocess.run(
        [*fnf_cmd, "-q", "run", "-t", "lead_scoring", "-s", "1"],
        env=env,
        check=True,
        cwd=directory,
        stdout=subprocess.DEVNULL,
    )
    return (time.perf_counter() - started) / n


def shell(n: int, directory: Path) -> float:
    db = directory / "shell.db"
    subprocess.run(
        ["sqlite3", str(db), "CREATE TABLE status (id TEXT PRIMARY KEY, status TEXT, count INTEGER);"], check=True
    )
    script = (
        f"for i in $(seq 1 {n}); do\n"
        f"  count=$(timeout 600 {sys.executable} -c \"import sys; sys.path.insert(0, '{directory}'); "
        'from bench_handler import noop; print(noop({}, None))")\n'
        f"  sqlite3 {db} \"INSERT OR REPLACE INTO status VALUES ('c$i', 'COMPLETED', $count);\"\n"
        "done\n"
    )
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    return (time.perf_counter() - started) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--shell-sample", type=int, default=100)
    args = parser.parse_args()
    if not (shutil.which("sqlite3") and shutil.which("timeout")):
        print("the shell baseline needs sqlite3 and GNU timeout on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        (directory / "bench_handler.py").write_text(HANDLER_MODULE)
        per_client = {
            "floor": floor(args.clients, directory),
            "fnf": fnf(args.clients, directory),
            "fnf_command": fnf(
                args.clients, directory / "command", FNF_HANDLER_LEAD_SCORING="", FNF_COMMAND_LEAD_SCORING=ECHO_COUNT
            ),
            "shell": shell(args.shell_sample, directory),
        }
    ratios = {
        "fnf_over_floor": per_client["fnf"] / per_client["floor"],
        "shell_over_fnf": per_client["shell"] / per_client["fnf"],
        "shell_over_fnf_command": per_client["shell"] / per_client["fnf_command"],
    }
    print(f"{'variant':<8} {'ms per client':>14}")
    for name, seconds in per_client.items():
        print(f"{name:<8} {seconds * 1000:>14.3f}")
    print(
        f"shell / fnf = {ratios['shell_over_fnf']:.1f}x, shell / fnf_command = "
        f"{ratios['shell_over_fnf_command']:.1f}x (target >= 10x); fnf / floor = {ratios['fnf_over_floor']:.0f}x"
    )
    print(
        json.dumps(
            {
                "benchmark": "overhead",
                "clients": args.clients,
                "shell_sample": args.shell_sample,
                "ms_per_client": {k: round(v * 1000, 3) for k, v in per_client.items()},
                **{k: round(v, 2) for k, v in ratios.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
