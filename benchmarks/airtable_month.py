"""A month of Airtable calls: what the shipped schedule costs against a plan's monthly quota.

    python benchmarks/airtable_month.py [--client-seconds 2] [--clients-per-day 800]

Airtable caps API calls per workspace per month (Free 1,000; Team 100,000; past it, 2 requests/s
until the month ends). Every call fnf makes counts: client writes, listings, lease claims,
heartbeats, sweep records. This benchmark measures each kind of cost with real ``fnf run``
processes on the loopback emulator at Airtable's limits, for each configuration:

* a run's fixed calls (schema check, listing, claim, sweep, finish) and its calls per client,
  from two runs of different sizes whose clients each take ``--client-seconds``;
* a heartbeat's calls, from a run whose clients outlive several heartbeats;

then prices the origin's month: 3 job types x 3 streams, ``--clients-per-day`` client jobs a day
each, clients of ``--work-seconds`` each, on ``fnf deploy``'s schedule (lead scoring hourly,
harvesting and post scoring daily), or with lead scoring every 8 hours (what this prices for
Team). Prints a table and one JSON line. Target: the Team configuration under 70,000 calls a
month (Team's quota: 100,000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtable_economy import TOKEN, settings  # noqa: E402

from fnf.models import Client  # noqa: E402
from fnf.store.airtable import AirtableStore  # noqa: E402
from fnf.testing.airtable_emulator import Emulator  # noqa: E402

HANDLER = (
    "import time\ndef work(client, ctx):\n    time.sleep(float(client.fields.get('seconds') or 0))\n    return 0\n"
)
PAIRS = 9
DAYS = 30


@dataclass(frozen=True)
class Config:
    name: str
    concurrency: int
    write_batch: int
    heartbeat_minutes: float
    lead_runs_per_day: int = 24
    other_runs_per_day: int = 1
    """``fnf deploy``'s schedule: lead scoring hourly, harvesting and post scoring daily."""

    @property
    def runs_per_day(self) -> float:
        """Runs a day per (type, stream), on average over the three types."""
        return (self.lead_runs_per_day + 2 * self.other_runs_per_day) / 3


CONFIGS = (
    Config("shipped schedule, exact", 1, 1, 1.0),
    Config("shipped schedule, --concurrency 8, exact", 8, 1, 1.0),
    Config("shipped schedule, batch 5, -k 8, heartbeat 5 min", 8, 5, 5.0),
    Config("lead every 8 h, batch 5, -k 8, heartbeat 5 min (Team)", 8, 5, 5.0, lead_runs_per_day=3),
    Config("lead every 8 h, -k 8, heartbeat 5 min, exact", 8, 1, 5.0, lead_runs_per_day=3),
)


class Bench:
    def __init__(self, emulator: Emulator, directory: Path) -> None:
        self.emulator, self.directory, self.bases = emulator, directory, 0
        self.listings = 0

    def run(
        self, config: Config, clients: int, seconds: float, heartbeat_seconds: float | None = None, *extra: str
    ) -> int:
        """Requests one ``fnf run`` of ``clients`` clients makes on a fresh base (``self.listings``:
        how many of them read the Clients table, one page each here)."""
        self.bases += 1
        base_id = f"appMONTH{self.bases:09d}"
        self.emulator.base(base_id, rate_limit=100_000)
        store = AirtableStore(settings(self.emulator, base_id, 1000.0))
        store.apply_schema()
        store.import_clients([Client(f"c{i:03d}", f"C{i}", 1, {"seconds": str(seconds)}) for i in range(clients)])
        store.close()
        self.emulator.base(base_id, rate_limit=5)
        self.emulator.bases[base_id].calls.clear()  # the set-up's requests are not the run's to pace
        beat = heartbeat_seconds if heartbeat_seconds is not None else config.heartbeat_minutes * 60
        env = {
            **os.environ,
            "FNF_STORE": "airtable",
            "AIRTABLE_API_KEY": TOKEN,
            "AIRTABLE_BASE_ID": base_id,
            "AIRTABLE_ENDPOINT_URL": self.emulator.url,
            "FNF_ENV_FILE": str(self.directory / "none.env"),
            "FNF_HANDLER_LEAD_SCORING": "month_handler:work",
            "PYTHONPATH": str(self.directory),
            "FNF_CONCURRENCY": str(config.concurrency),
            "FNF_WRITE_BATCH": str(config.write_batch),
            "HEARTBEAT_INTERVAL_MINUTES": str(beat / 60),
        }
        before, logged = self.emulator.stats.requests, len(self.emulator.stats.log)
        subprocess.run(
            [sys.executable, "-m", "fnf", "-q", "run", "-t", "lead_scoring", "-s", "1", *extra],
            env=env,
            cwd=self.directory,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        calls = self.emulator.stats.log[logged:]
        self.listings = sum(1 for method, path, *_ in calls if method == "GET" and path.endswith("/Clients"))
        return self.emulator.stats.requests - before


def measure(bench: Bench, config: Config, seconds: float) -> dict[str, float]:
    small, large = 2, 2 + 5 * max(config.write_batch, config.concurrency)
    few = bench.run(config, small, seconds)
    listings = bench.listings  # this run ended its sweep: it read the stream again at the end
    bench.run(config, small, seconds, None, "--job-timeout", f"{seconds * 1.5:g}s")  # stops before its sweep ends
    at_start = bench.listings
    many = bench.run(config, large, seconds)
    per_client = (many - few) / (large - small)
    fixed = few - small * per_client
    beats_run = bench.run(config, 2, 4.0, heartbeat_seconds=0.5)  # two clients of 4 s, beats every 0.5 s
    beats = (8.0 if config.concurrency == 1 else 4.0) / 0.5
    per_beat = max(0.0, (beats_run - fixed - 2 * per_client) / beats)
    return {
        "fixed": fixed,
        "start_listings": at_start,
        "end_listings": listings - at_start,
        "per_client": per_client,
        "per_beat": per_beat,
    }


def month(costs: dict[str, float], config: Config, args: argparse.Namespace) -> dict[str, float]:
    """The month, priced from the measured costs. A listing of the stream reads one page per 100
    clients (the measured runs' listings had one page): each run lists the stream at its start,
    and once more at the end of each sweep (one sweep per ``--stream-size`` client jobs)."""
    pages = -(-args.stream_size // 100)
    runs = PAIRS * config.runs_per_day * DAYS
    client_jobs = PAIRS * args.clients_per_day * DAYS
    sweeps = client_jobs / args.stream_size
    working_minutes = client_jobs * args.work_seconds / config.concurrency / 60
    per_run = costs["fixed"] - costs["end_listings"] + costs["start_listings"] * (pages - 1)
    parts = {
        "runs": runs * per_run + sweeps * costs["end_listings"] * pages,
        "clients": client_jobs * costs["per_client"],
        "heartbeats": working_minutes / config.heartbeat_minutes * costs["per_beat"],
    }
    return {**parts, "total": sum(parts.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-seconds", type=float, default=2.0, help="each measured client's work")
    parser.add_argument("--clients-per-day", type=int, default=800, help="client jobs a day per (type, stream)")
    parser.add_argument("--work-seconds", type=float, default=60.0, help="a real client's work, for the month")
    parser.add_argument("--stream-size", type=int, default=800, help="clients in each stream, for the month")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp, Emulator(TOKEN, penalty=30.0) as emulator:
        directory = Path(tmp)
        (directory / "month_handler.py").write_text(HANDLER)
        bench = Bench(emulator, directory)
        measured: dict[tuple[int, int], dict[str, float]] = {}
        for config in CONFIGS:
            key = (config.concurrency, config.write_batch)
            costs = measured.get(key) or measure(bench, config, args.client_seconds)
            measured[key] = costs
            rows.append({"config": config.name, **costs, **month(costs, config, args)})
    print(f"{'configuration':<52} {'fixed/run':>9} {'per client':>10} {'per beat':>8} {'month':>9}")
    for row in rows:
        print(
            f"{row['config']:<52} {row['fixed']:>9.1f} {row['per_client']:>10.2f} {row['per_beat']:>8.2f} "
            f"{row['total']:>9,.0f}"
        )
    print(
        f"month = {PAIRS} (type, stream) pairs x {DAYS} days, streams of {args.stream_size} clients, "
        f"{args.clients_per_day} client jobs a day each of {args.work_seconds:g} s; Team's quota is 100,000 calls "
        "(target: under 70,000)"
    )
    print(json.dumps({"benchmark": "airtable_month", "rows": [{k: _round(v) for k, v in r.items()} for r in rows]}))
    return 0


def _round(value: object) -> object:
    return round(value, 3) if isinstance(value, float) else value


if __name__ == "__main__":
    sys.exit(main())
