"""A client's cost does not follow the runner's memory: the same clients from a small and a big runner.

    python benchmarks/runner_size.py [--clients 300] [--ballast-mb 100]

Starts --clients do-nothing clients one after another through fnf's process executor (the
runner's side of the process server), from a runner process as it is and from one holding
--ballast-mb of extra memory (a big stream's clients and states), each in a fresh interpreter,
and prints ms per client for both and their ratio. Target: the ratio stays within 1.2x (a
runner that forks each client pays in proportion to its memory: 1.7 ms at 32 MB, 6.8 ms at 194 MB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import os, sys, tempfile, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from fnf.handlers import HandlerSpec, resolve
from fnf.models import Client, JobType
from fnf.proc.executor import ProcessExecutor
from fnf.run.work import Work
from fnf.stop import StopFlag

ballast = [bytearray(1024) for _ in range(int(sys.argv[2]) * 1024)]
spec = HandlerSpec(JobType.LEAD_SCORING, "python", "size_handler:noop", "BENCH")
handler = resolve(spec, os.environ)
with ProcessExecutor(Path(tempfile.mkdtemp()), dict(os.environ), StopFlag()) as executor:
    executor.prepare()
    started = time.perf_counter()
    for i in range(int(sys.argv[1])):
        deadline = time.monotonic() + 300
        work = Work(Client(f"c{i}", "C", 1), JobType.LEAD_SCORING, "job", "run", 1,
                    datetime.now(UTC) + timedelta(minutes=5), deadline, handler)
        child = executor.start(work)
        while (result := child.wait(5)) is None:
            pass
        assert result.count == 0, result
    print((time.perf_counter() - started) / int(sys.argv[1]) * 1000)
"""


def per_client(clients: int, ballast_mb: int, directory: Path) -> float:
    env = {"PYTHONPATH": f"{ROOT}:{directory}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(clients), str(ballast_mb)],
        env=env,
        cwd=directory,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--ballast-mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        (directory / "size_handler.py").write_text("def noop(client, ctx):\n    return 0\n")
        rounds = [(per_client(args.clients, 0, directory), per_client(args.clients, args.ballast_mb, directory))]
        rounds.append((per_client(args.clients, 0, directory), per_client(args.clients, args.ballast_mb, directory)))
    small = min(r[0] for r in rounds)
    big = min(r[1] for r in rounds)
    print(f"runner as it is:          {small:.2f} ms per client")
    print(f"runner + {args.ballast_mb} MB:          {big:.2f} ms per client")
    print(f"ratio {big / small:.2f}x (target <= 1.2x)")
    print(json.dumps({"benchmark": "runner_size", "ms_small": round(small, 3), "ms_big": round(big, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
