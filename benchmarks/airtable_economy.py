"""Airtable economy: requests per processed client, and clients per minute per stream.

    python benchmarks/airtable_economy.py [--clients 300] [--shared-clients 60] [--streams 1 3 5]

Everything runs against the loopback Airtable emulator with Airtable's real limits (5 requests
per second per base, 30 s penalty after a breach), through ``fnf run`` processes using pyairtable:

* fnf     - ``fnf run --type lead_scoring`` with a do-nothing handler; with N streams sharing one
            base, N runs at once, each in its slot (``AIRTABLE_SLOT=i/N``, as ``fnf deploy`` gives);
* naive   - the loop fnf replaces, in the same run and on the same emulator: read the stream's
            clients, then per client one update for STARTED and one for the end state, paced
            at 5 requests per second.

Prints a table and one JSON line. Target: at most 1.2 requests per client on a lead_scoring
sweep, and no 429 caused by fnf's own pacing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fnf.config import AirtableSettings  # noqa: E402
from fnf.deploy import slots  # noqa: E402
from fnf.models import Client, JobType  # noqa: E402
from fnf.store.airtable import AirtableStore  # noqa: E402
from fnf.testing.airtable_emulator import Emulator  # noqa: E402

TOKEN = "pat-bench.token"
HANDLER_MODULE = "def noop(client, ctx):\n    return 0\n"


def settings(emulator: Emulator, base_id: str, rate: float) -> AirtableSettings:
    return AirtableSettings(
        api_key=TOKEN,
        base_id=base_id,
        clients_table="Clients",
        runs_table="Job Runs",
        sweeps_table="Sweeps",
        endpoint_url=emulator.url,
        field_names={},
        requests_per_second=rate,
        rate_limit_wait=30.0,
        retry_budget=600.0,
        timeout=30.0,
    )


def prepare(emulator: Emulator, base_id: str, streams: int, per_stream: int) -> None:
    emulator.base(base_id, rate_limit=100_000)  # set-up is not what is measured
    store = AirtableStore(settings(emulator, base_id, 1000.0))
    store.apply_schema()
    store.import_clients(
        [Client(f"s{s}-c{i:04d}", f"Client {s}/{i}", s) for s in range(1, streams + 1) for i in range(per_stream)]
    )
    store.close()
    emulator.base(base_id, rate_limit=5)
    emulator.bases[base_id].calls.clear()


def run_fnf(emulator: Emulator, streams: int, per_stream: int, directory: Path, concurrency: int = 1) -> dict[str, Any]:
    base_id = f"appFNFST{streams:02d}K{concurrency:03d}XXX"
    prepare(emulator, base_id, streams, per_stream)
    rate = 5
    env = {
        **os.environ,
        "FNF_STORE": "airtable",
        "AIRTABLE_API_KEY": TOKEN,
        "AIRTABLE_BASE_ID": base_id,
        "AIRTABLE_ENDPOINT_URL": emulator.url,
        "AIRTABLE_REQUESTS_PER_SECOND": str(rate),
        "FNF_ENV_FILE": str(directory / "none.env"),
        "FNF_HANDLER_LEAD_SCORING": "bench_handler:noop",
        "PYTHONPATH": str(directory),
    }
    before_requests, before_limited = emulator.stats.requests, emulator.stats.rate_limited
    started = time.perf_counter()
    places = slots([JobType.LEAD_SCORING], streams)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fnf",
                "-q",
                "run",
                "-t",
                "lead_scoring",
                "-s",
                str(s),
                "--concurrency",
                str(concurrency),
            ],
            env={**env, "AIRTABLE_SLOT": places[(JobType.LEAD_SCORING, s)]} if streams > 1 else env,
            cwd=directory,
            stdout=subprocess.DEVNULL,
        )
        for s in range(1, streams + 1)
    ]
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - started
    requests = emulator.stats.requests - before_requests
    done = sum(
        1 for r in emulator.records(base_id, "Clients") if r["fields"].get("Lead Scoring Job Status") == "COMPLETED"
    )
    return {
        "streams": streams,
        "concurrency": concurrency,
        "pacing": f"slots of {streams}" if streams > 1 else f"{rate} requests/s",
        "clients": streams * per_stream,
        "completed": done,
        "exit_codes": codes,
        "requests": requests,
        "requests_per_client": requests / max(1, done),
        "rate_limited": emulator.stats.rate_limited - before_limited,
        "clients_per_minute_per_stream": per_stream / seconds * 60,
        "seconds": seconds,
    }


def run_naive(emulator: Emulator, per_stream: int) -> dict[str, Any]:
    base_id = "appNAIVELOOP00000"
    prepare(emulator, base_id, 1, per_stream)
    store = AirtableStore(settings(emulator, base_id, 5.0))
    table = store.api.table(base_id, "Clients")
    before = emulator.stats.requests
    started = time.perf_counter()
    for record in table.all(formula="{Processing Stream}=1"):
        table.update(record["id"], {"Lead Scoring Job Status": "STARTED"})
        table.update(record["id"], {"Lead Scoring Job Status": "COMPLETED", "Leads Scored Last Run": 0})
    seconds = time.perf_counter() - started
    requests = emulator.stats.requests - before
    return {
        "clients": per_stream,
        "requests": requests,
        "requests_per_client": requests / per_stream,
        "clients_per_minute_per_stream": per_stream / seconds * 60,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=300, help="clients in the single-stream sweep")
    parser.add_argument("--shared-clients", type=int, default=60, help="clients per stream when streams share")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8], help="clients in flight, for the single-stream sweep"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="fnf-bench-") as tmp, Emulator(TOKEN, penalty=30.0) as emulator:
        directory = Path(tmp)
        (directory / "bench_handler.py").write_text(HANDLER_MODULE)
        naive = run_naive(emulator, min(args.clients, 100))
        for streams in args.streams:
            if streams == 1:
                results += [run_fnf(emulator, 1, args.clients, directory, k) for k in args.concurrency]
            else:
                results.append(run_fnf(emulator, streams, args.shared_clients, directory))
    print(f"{'variant':<14} {'clients':>8} {'requests':>9} {'req/client':>11} {'429s':>5} {'clients/min/stream':>19}")
    print(
        f"{'naive loop':<14} {naive['clients']:>8} {naive['requests']:>9} "
        f"{naive['requests_per_client']:>11.2f} {0:>5} {naive['clients_per_minute_per_stream']:>19.0f}"
    )
    for r in results:
        label = f"fnf {r['streams']} stream" + ("s" if r["streams"] > 1 else f" K={r['concurrency']}")
        print(
            f"{label:<14} {r['completed']:>8} {r['requests']:>9} {r['requests_per_client']:>11.2f} "
            f"{r['rate_limited']:>5} {r['clients_per_minute_per_stream']:>19.0f}"
        )
    single = next((r for r in results if r["streams"] == 1 and r["concurrency"] == 1), results[0])
    wide = next((r for r in results if r["streams"] == 1 and r["concurrency"] == 8), None)
    ratio = naive["requests_per_client"] / single["requests_per_client"]
    print(
        f"naive / fnf requests per client = {ratio:.1f}x; fnf {single['requests_per_client']:.2f} requests per "
        f"client (target <= 1.2); 429s caused by fnf: {sum(r['rate_limited'] for r in results)} (target 0)"
    )
    if wide is not None:
        print(
            f"with --concurrency 8: {wide['requests_per_client']:.2f} requests per client (target <= 0.4), "
            f"{wide['clients_per_minute_per_stream'] / single['clients_per_minute_per_stream']:.1f}x the clients "
            "per minute of K=1"
        )
    print(
        json.dumps(
            {
                "benchmark": "airtable_economy",
                "naive": {k: round(v, 3) if isinstance(v, float) else v for k, v in naive.items()},
                "fnf": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in results],
                "naive_over_fnf_requests": round(ratio, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
