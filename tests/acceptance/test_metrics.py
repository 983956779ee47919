"""Prometheus: a Pushgateway on loopback receives each run's metrics, the textfile parses with
prometheus_client's parser, ``fnf serve`` answers GET /metrics, and a dead endpoint never changes
a run's exit code."""

from __future__ import annotations

import json
import socket
from typing import Any

import requests
from acceptance.conftest import Project
from acceptance.test_background import SECRET, serve
from alert_servers import http_receiver
from prometheus_client.parser import text_string_to_metric_families

RUN = ("run", "-t", "lead_scoring", "-s", "1", "--json")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _clients(project: Project) -> None:
    modes = ["ok", "ok", "auth", "fail"]
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": m} for i, m in enumerate(modes)])


def test_each_run_pushes_its_start_and_its_end_grouped_by_type_and_stream(project: Project) -> None:
    _clients(project)
    with http_receiver() as gateway:
        result = project.fnf(*RUN, env={"FNF_PUSHGATEWAY_URL": gateway.url})
        assert result.returncode == 0, result.stderr
        pushes = list(gateway.requests)
    assert [p.method for p in pushes] == ["POST", "POST"], "at the start and at the end"
    for push in pushes:  # the grouping key: job, type and stream (in any order)
        parts = push.path.removeprefix("/metrics/").split("/")
        assert dict(zip(parts[::2], parts[1::2], strict=True)) == {"job": "fnf", "type": "lead_scoring", "stream": "1"}
    start, end = (samples(p.body.decode()) for p in pushes)
    assert start[("fnf_stream_remaining_clients", ())] == 4
    assert ("fnf_run_last_start_timestamp_seconds", ()) in start
    assert end[("fnf_run_clients", (("status", "COMPLETED"),))] == 2
    assert end[("fnf_run_clients", (("status", "FAILED"),))] == 2
    assert end[("fnf_run_clients", (("status", "skipped"),))] == 0
    assert end[("fnf_run_failures", (("kind", "auth"),))] == 1
    assert end[("fnf_run_failures", (("kind", "crash"),))] == 1
    assert end[("fnf_run_outcome", (("outcome", "completed"),))] == 1
    assert end[("fnf_run_outcome", (("outcome", "circuit_open"),))] == 0
    assert end[("fnf_stream_remaining_clients", ())] == 0
    ended = end[("fnf_run_last_end_timestamp_seconds", ())]
    assert end[("fnf_run_last_success_timestamp_seconds", ())] == ended
    assert 0 <= end[("fnf_run_duration_seconds", ())] < 600


def test_the_textfile_parses_and_keeps_the_last_success_through_a_failed_run(project: Project) -> None:
    _clients(project)
    path = project.path / "fnf-{type}-{stream}.prom"
    env = {"FNF_METRICS_FILE": str(path)}
    assert project.fnf(*RUN, env=env).returncode == 0
    written = project.path / "fnf-lead_scoring-1.prom"
    first = samples(written.read_text())
    success = first[("fnf_run_last_success_timestamp_seconds", ())]
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "fail"} for i in range(6)])
    failed = project.fnf(*RUN, "--new-sweep", env={**env, "FNF_CIRCUIT_BREAKER_FAILURES": "3"})
    assert failed.returncode == 1 and json.loads(failed.stdout)["outcome"] == "circuit_open"
    second = samples(written.read_text())
    assert second[("fnf_run_outcome", (("outcome", "circuit_open"),))] == 1
    assert second[("fnf_run_last_success_timestamp_seconds", ())] == success, "a failed run is not a success"
    assert second[("fnf_run_last_end_timestamp_seconds", ())] > success


def test_a_dead_push_endpoint_never_changes_the_exit_code(project: Project) -> None:
    _clients(project)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = project.fnf(*RUN, env={"FNF_PUSHGATEWAY_URL": dead})
    assert result.returncode == 0, result.stderr
    assert "could not push metrics to FNF_PUSHGATEWAY_URL" in result.stderr
    assert json.loads(result.stdout)["outcome"] == "completed"


def test_serve_answers_the_stream_gauges_on_metrics(project: Project) -> None:
    _clients(project)
    assert project.fnf(*RUN, "--client", "c2", "--client", "c3").returncode == 0  # the sweep stays open
    proc, base = serve(project)
    try:
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
        answer = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    found: dict[Any, float] = samples(answer.text)
    key = (("stream", "1"), ("type", "lead_scoring"))
    assert found[("fnf_stream_clients", key)] == 4
    assert found[("fnf_stream_failed_clients", key)] == 2
    assert found[("fnf_stream_remaining_clients", key)] == 2
    assert found[("fnf_stream_live_run", key)] == 0
    assert found[("fnf_stream_last_outcome", (("outcome", "completed"), *key))] == 1


def _check_ins(bodies: list[tuple[dict[str, str], bytes]]) -> list[dict[str, Any]]:
    """The check-in items of Sentry envelopes (newline-separated JSON, maybe compressed)."""
    import gzip
    import zlib

    found = []
    for headers, body in bodies:
        encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            body = brotli.decompress(body)
        lines = body.decode().splitlines()
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "check_in":
                found.append(json.loads(payload))
    return found


def test_sentry_cron_check_ins_mark_each_run_and_a_dead_sentry_changes_nothing(project: Project) -> None:
    _clients(project)
    with http_receiver() as sentry:
        dsn = sentry.url.replace("http://", "http://publickey@") + "/1"
        env = {"SENTRY_DSN": dsn, "SENTRY_CRON_SCHEDULE": "0 * * * *"}
        assert project.fnf(*RUN, env=env).returncode == 0
        failing = project.fnf(*RUN, "--new-sweep", env={**env, "FNF_CIRCUIT_BREAKER_FAILURES": "1"})
        assert failing.returncode == 1
        received = [(r.headers, r.body) for r in sentry.requests]
    check_ins = _check_ins(received)
    assert [(c["monitor_slug"], c["status"]) for c in check_ins] == [
        ("fnf-lead_scoring-1", "in_progress"),
        ("fnf-lead_scoring-1", "ok"),
        ("fnf-lead_scoring-1", "in_progress"),
        ("fnf-lead_scoring-1", "error"),
    ]
    assert check_ins[0]["check_in_id"] == check_ins[1]["check_in_id"] != check_ins[2]["check_in_id"]
    assert check_ins[0]["monitor_config"]["schedule"] == {"type": "crontab", "value": "0 * * * *"}
    assert check_ins[1]["duration"] >= 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://publickey@127.0.0.1:{probe.getsockname()[1]}/1"
    result = project.fnf(*RUN, "--new-sweep", env={"SENTRY_DSN": dead, "FNF_CIRCUIT_BREAKER_FAILURES": "0"})
    assert result.returncode == 0, result.stderr


def test_doctor_checks_the_configured_reporting(project: Project) -> None:
    _clients(project)
    result = project.fnf(
        "doctor", env={"FNF_PUSHGATEWAY_URL": "http://127.0.0.1:9", "SENTRY_DSN": "http://k@127.0.0.1:9/1"}
    )
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["OK", "metrics", "configured"] in lines and ["OK", "sentry", "configured"] in lines, result.stdout
