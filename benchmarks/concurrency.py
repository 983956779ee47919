"""Concurrency: one sweep of sleeping clients with --concurrency 1, 2, 4 and 8, same machine, same run.

    python benchmarks/concurrency.py [--clients 32] [--seconds 0.5]

Each client's handler sleeps --seconds (work that waits on the network, as most client work does).
Reports each sweep's wall time and its speed-up over --concurrency 1 measured in the same run,
against the ideal (K times faster, rounded up to whole waves). Target: K = 4 takes about a quarter
of the time of K = 1.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import FNF, import_clients, project_env

LEVELS = (1, 2, 4, 8)


def sweep_seconds(directory: Path, env: dict[str, str], k: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*FNF, "run", "-t", "lead_scoring", "-s", "1", "--new-sweep", "--concurrency", str(k)],
        env=env,
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"fnf run --concurrency {k} failed ({done.returncode}): {done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        handler = f"import time\n\ndef wait(client, ctx):\n    time.sleep({args.seconds})\n    return 1\n"
        env = project_env(directory, handler, "wait")
        import_clients(directory, env, (f"c{i:04d},Client {i},1" for i in range(args.clients)))
        figures = {k: sweep_seconds(directory, env, k) for k in LEVELS}
    base = figures[1]
    print(f"{args.clients} clients, each sleeping {args.seconds:g} s")
    print(f"{'concurrency':>11} {'sweep s':>8} {'speed-up':>9} {'ideal':>6}")
    for k, seconds in figures.items():
        ideal = args.clients / math.ceil(args.clients / k)
        print(f"{k:>11} {seconds:>8.2f} {base / seconds:>8.2f}x {ideal:>5.1f}x")
    print(json.dumps({"benchmark": "concurrency", "clients": args.clients, "client_seconds": args.seconds,
                      "sweep_seconds": {str(k): round(v, 3) for k, v in figures.items()},
                      "speedup": {str(k): round(base / v, 2) for k, v in figures.items()}}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
