"""Runner footprint: the runner's resident memory over a long sweep, sampled while it runs.

    python benchmarks/footprint.py [--clients 20000] [--interval 0.05]

Two sweeps of --clients do-nothing clients on the SQLite store, each in its own run, in the steady
state (every client already has its state, as on every cron tick after the first). psutil samples
the runner's RSS every --interval seconds (the runner only: its children are separate processes).
Reports the RSS after the first tenth of each sweep, at the middle, at nine tenths and at the end,
the peak, and the growth per client from the first tenth to nine tenths, against the same figures
for a stream a tenth as large measured in the same run. Target: flat (no growth with the clients
done, the next sweep as the first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _setup import FNF, import_clients, project_env


def sweeps(directory: Path, env: dict[str, str], clients: int, interval: float) -> dict[str, dict[str, float]]:
    """A steady-state sweep and the next one, each in its own run."""
    import_clients(directory, env, (f"c{i:06d},Client {i},{clients}" for i in range(clients)), f"{clients}.csv")
    # The first sweep of a fresh store also creates every client's state; the second is the steady state.
    first = subprocess.run([*FNF, "run", "-t", "lead_scoring", "-s", str(clients)], env=env, cwd=directory)
    if first.returncode != 0:
        raise SystemExit(f"fnf run failed with exit code {first.returncode}")
    command = [*FNF, "run", "-t", "lead_scoring", "-s", str(clients), "--new-sweep"]
    return {name: sampled(command, env, directory, interval, clients) for name in ("sweep", "next")}


def sampled(
    command: list[str], env: dict[str, str], directory: Path, interval: float, clients: int
) -> dict[str, float]:
    proc = subprocess.Popen(command, env=env, cwd=directory)
    watched = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    while proc.poll() is None:
        try:
            samples.append((time.monotonic() - started, watched.memory_info().rss / 2**20))
        except psutil.Error:
            break
        time.sleep(interval)
    if proc.returncode not in (0, None):
        raise SystemExit(f"fnf run failed with exit code {proc.returncode}")
    total = samples[-1][0]

    def at(fraction: float) -> float:
        return next(rss for t, rss in samples if t >= fraction * total)

    return {
        "seconds": round(total, 1),
        "rss_mb_10pct": round(at(0.1), 1),
        "rss_mb_50pct": round(at(0.5), 1),
        "rss_mb_90pct": round(at(0.9), 1),
        "rss_mb_end": round(samples[-1][1], 1),
        "rss_mb_peak": round(max(rss for _, rss in samples), 1),
        "growth_kb_per_client": round((at(0.9) - at(0.1)) * 1024 / (0.8 * clients), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20000)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        env = project_env(directory, MAX_JOB_PROCESSING_HOURS="10")
        small = max(1, args.clients // 10)
        figures = {small: sweeps(directory, env, small, args.interval),
                   args.clients: sweeps(directory, env, args.clients, args.interval)}  # fmt: skip
    print(f"{'clients':>8} {'run':>6} {'sweep s':>8} {'RSS 10%':>8} {'RSS 50%':>8} {'RSS 90%':>8} {'end':>7} "
          f"{'peak':>7} {'KB/client':>10}  (MB)")  # fmt: skip
    for clients, runs in figures.items():
        for name, f in runs.items():
            print(f"{clients:>8} {name:>6} {f['seconds']:>8.1f} {f['rss_mb_10pct']:>8.1f} {f['rss_mb_50pct']:>8.1f} "
                  f"{f['rss_mb_90pct']:>8.1f} {f['rss_mb_end']:>7.1f} {f['rss_mb_peak']:>7.1f} "
                  f"{f['growth_kb_per_client']:>10.3f}")  # fmt: skip
    big = figures[args.clients]
    ratio = big["sweep"]["rss_mb_peak"] / figures[small]["sweep"]["rss_mb_peak"]
    print(f"peak RSS, {args.clients} clients / {small} clients = {ratio:.2f}x; next sweep's peak / this one's = "
          f"{big['next']['rss_mb_peak'] / big['sweep']['rss_mb_peak']:.2f}x (flat = 1.0x)")  # fmt: skip
    print(json.dumps({"benchmark": "footprint", "runs": {str(k): v for k, v in figures.items()},
                      "peak_ratio": round(ratio, 2)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
