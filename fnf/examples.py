"""Example handlers, used by ``fnf demo`` and as a template for real ones.

A handler receives the client (its id, name, stream and the extra fields of the import) and a
``Context`` (deadline, job id, progress), does the work and returns how many items it handled.
The demo's clients steer these examples through their ``behaviour`` and ``work_seconds``
fields, so one demo shows a normal client, a hang and a failure side by side.

The same work is available as an external command, to show the other kind of handler::

    FNF_COMMAND_LEAD_SCORING="python -m fnf.examples lead_scoring {client_id} {client_name}"

which prints its count as the final stdout line ``{"count": N}``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

from fnf.handlers import AuthFailed, Context
from fnf.models import Client

_WHAT = {"lead_scoring": "leads scored", "post_harvesting": "posts harvested", "post_scoring": "posts scored"}


def score_leads(client: Client, ctx: Context) -> int:
    return _work(client, ctx, "lead_scoring")


def harvest_posts(client: Client, ctx: Context) -> int:
    return _work(client, ctx, "post_harvesting")


def score_posts(client: Client, ctx: Context) -> int:
    return _work(client, ctx, "post_scoring")


def _count(client_id: str, job_type: str) -> int:
    digest = hashlib.sha256(f"{client_id}/{job_type}".encode()).digest()
    return digest[0] % 40 + 1


def _work(client: Client, ctx: Context, job_type: str) -> int:
    behaviour = str(client.fields.get("behaviour", "ok"))
    seconds = float(client.fields.get("work_seconds", 0.2) or 0.2)
    if behaviour == "hang":
        print(f"{client.name}: waiting for an upstream API that never answers", flush=True)
        while True:
            time.sleep(60)
    if behaviour == "fail":
        raise AuthFailed(f"the upstream API refused {client.name}'s token (HTTP 401: token expired)")
    count = _count(client.id, job_type)
    steps = 4
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        ctx.progress(step * count // steps, count)
    print(f"{client.name}: {count} {_WHAT[job_type]}")
    return count


def main(argv: list[str] | None = None) -> int:
    """Command form: ``python -m fnf.examples JOB_TYPE CLIENT_ID [CLIENT_NAME]``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] not in _WHAT:
        print(
            "usage: python -m fnf.examples {lead_scoring|post_harvesting|post_scoring} CLIENT_ID [NAME]",
            file=sys.stderr,
        )
        return 2
    job_type, client_id = args[0], args[1]
    name = args[2] if len(args) > 2 else client_id
    count = _count(client_id, job_type)
    time.sleep(0.1)
    print(f"{name}: {count} {_WHAT[job_type]}")
    print(json.dumps({"count": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
