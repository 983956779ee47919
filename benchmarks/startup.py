"""Start-up time: `fnf --help` and a SQLite `fnf run` with nothing to do, against `python -c pass`.

    python benchmarks/startup.py [--repeat 15]

Each command is started --repeat times; the median wall time is reported, with the ratio to the
bare interpreter measured in the same run. Also reports whether pyairtable was imported on the
SQLite path (it must not be: it costs about half a second). Target: `fnf --help` under 0.15 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import import_clients, project_env

PROBE = """
import runpy, sys
sys.argv = ["fnf", "-q", "run", "-t", "lead_scoring", "-s", "2"]
try:
    runpy.run_module("fnf", run_name="__main__")
except SystemExit:
    pass
print("pyairtable" in sys.modules)
"""


def median_seconds(command: list[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp:
        directory = Path(tmp)
        env = project_env(directory)
        fnf = [sys.executable, "-m", "fnf"]
        import_clients(directory, env, ["a,A,1"])
        subprocess.run([*fnf, "-q", "run", "-t", "lead_scoring", "-s", "1"], env=env, cwd=directory, check=True)
        figures = {
            "python -c pass": median_seconds([sys.executable, "-c", "pass"], env, directory, args.repeat),
            "fnf --help": median_seconds([*fnf, "--help"], env, directory, args.repeat),
            "fnf run (nothing to do)": median_seconds(
                [*fnf, "-q", "run", "-t", "lead_scoring", "-s", "2"], env, directory, args.repeat
            ),
        }
        probe = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, cwd=directory, capture_output=True, text=True, check=False
        )
        pyairtable_loaded = probe.stdout.strip().endswith("True")
    base = figures["python -c pass"]
    print(f"{'command':<26} {'median s':>9} {'vs python':>10}")
    for name, seconds in figures.items():
        print(f"{name:<26} {seconds:>9.3f} {seconds / base:>9.1f}x")
    print(f"pyairtable imported on the SQLite path: {pyairtable_loaded} (must be False); target fnf --help < 0.15 s")
    print(json.dumps({"benchmark": "startup", "median_seconds": {k: round(v, 3) for k, v in figures.items()},
                      "pyairtable_on_sqlite_path": pyairtable_loaded}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
