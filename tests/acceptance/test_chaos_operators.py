"""Chaos with operators (slow): two streams' runs back to back, with clocks an hour ahead or
behind, while an operator removes, re-imports and reassigns clients, force-resets streams and
kills runs. Whatever happens, no client ever runs in two places at once, a removed client is not
started while it is out of the store, nothing is orphaned and the store stays whole."""

from __future__ import annotations

import csv
import itertools
import random
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from acceptance.conftest import Project
from acceptance.test_clocks import skewed
from processes import alive

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CLIENTS = [f"c{i:02d}" for i in range(40)]
SECONDS = 45.0


def _write_csv(path: Path, ids: list[str], streams: dict[str, int]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "stream", "mode", "seconds"])
        for cid in ids:
            writer.writerow([cid, f"Client {cid}", streams.get(cid, 1), "ok", "0.15"])


def _spans(path: Path) -> dict[str, list[tuple[float, float]]]:
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            cid, began, ended = line.split()
            found[cid].append((float(began), float(ended)))
    return found


def test_operators_and_skewed_clocks_during_runs_keep_every_promise(project: Project, tmp_path: Path) -> None:
    rng = random.Random(13)
    project.env["FNF_TEST_SPANS"] = str(tmp_path / "spans")
    streams = {cid: 1 + i % 2 for i, cid in enumerate(CLIENTS)}
    _write_csv(tmp_path / "all.csv", CLIENTS, streams)
    assert project.fnf("clients", "import", str(tmp_path / "all.csv")).returncode == 0
    runs: dict[int, subprocess.Popen[str]] = {}
    out: dict[str, list[tuple[float, float | None]]] = defaultdict(list)  # removed, then back (monotonic)
    started_runs = kills = 0
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        for stream in (1, 2):
            proc = runs.get(stream)
            if proc is None or proc.poll() is not None:
                if proc is not None:
                    proc.communicate()
                skew = rng.choice([0.0, 0.0, 3600.0, -3600.0])
                runs[stream] = project.popen("run", "-t", "lead_scoring", "-s", str(stream), env=skewed(project, skew))
                started_runs += 1
        action = rng.choice(["remove", "import", "assign", "reset", "kill", "wait", "wait"])
        if action == "remove":
            victim = rng.choice(CLIENTS)
            if project.fnf("clients", "remove", victim).returncode == 0:
                out[victim].append((time.monotonic(), None))
        elif action == "import":
            back = [cid for cid, spells in out.items() if spells and spells[-1][1] is None]
            began = time.monotonic()
            assert project.fnf("clients", "import", str(tmp_path / "all.csv")).returncode == 0
            for cid in back:
                out[cid][-1] = (out[cid][-1][0], began)
        elif action == "assign":
            assert project.fnf("streams", "assign", "--streams", "2", "--yes").returncode == 0
        elif action == "reset":
            stream = rng.choice([1, 2])
            project.fnf("reset", "-t", "lead_scoring", "-s", str(stream), "--force")
        elif action == "kill":
            proc = runs[rng.choice([1, 2])]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        time.sleep(rng.uniform(0.1, 0.6))
    for proc in runs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    time.sleep(0.2)
    assert alive(project.pids()) == [], "no orphan process"
    assert project.integrity() == "ok"
    ran = _spans(tmp_path / "spans")
    assert sum(len(v) for v in ran.values()) > 100, "the runs did work"
    for cid, spells in ran.items():
        spells.sort()
        overlaps = [(a, b) for a, b in itertools.pairwise(spells) if b[0] < a[1]]
        assert not overlaps, f"{cid} ran twice at once: {overlaps}"
        for removed, back in out.get(cid, []):
            late = [s for s in spells if s[0] > removed + 2.0 and (back is None or s[0] < back)]  # fork latency
            assert not late, f"{cid} started while removed ({removed:.2f} .. {back}): {late}"
    history = project.fnf("history", "--json", "--limit", "1000")
    assert history.returncode == 0 and started_runs > 10
