"""Prometheus metrics of runs: pushed to a Pushgateway, or written for the node exporter's
textfile collector, the two ways batch jobs report to Prometheus; and the per-stream gauges
``fnf serve`` answers on ``GET /metrics``.

``prometheus_client`` is imported only here, and only when metrics are configured
(``FNF_PUSHGATEWAY_URL``, ``FNF_METRICS_FILE``): ``fnf --help`` and a run without metrics never
pay for it. Publishing never changes a run's exit code: a failure is logged, nothing more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fnf.errors import ConfigError
from fnf.failures import FailureKind, parse_kinds
from fnf.models import Outcome, RunCounts, Status

log = logging.getLogger("fnf.metrics")

PUSH_TIMEOUT_SECONDS = 5.0
SUCCESS = (Outcome.COMPLETED, Outcome.STOPPED_AT_DEADLINE)
"""Outcomes that count as a successful run: the work happened or stopped as planned."""


@dataclass(frozen=True)
class MetricsSettings:
    pushgateway_url: str | None = None
    textfile: str | None = None
    """A path; ``{type}`` and ``{stream}`` in it are filled in (one file per type and stream)."""

    @property
    def enabled(self) -> bool:
        return bool(self.pushgateway_url or self.textfile)


@dataclass(frozen=True)
class RunEnd:
    """What a finished run reports to Prometheus."""

    run_type: str
    stream: int
    outcome: Outcome
    started: float
    ended: float
    counts: RunCounts
    cut_short: int
    """Clients left JOB_TIMEOUT_KILLED (the job deadline or a signal): resumed first next run."""


def require_client(settings: MetricsSettings) -> None:
    """Fail before the run starts when metrics are configured but cannot be sent."""
    if not settings.enabled:
        return
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        names = " and ".join(n for n, v in (("FNF_PUSHGATEWAY_URL", settings.pushgateway_url),
                                              ("FNF_METRICS_FILE", settings.textfile)) if v)  # fmt: skip
        raise ConfigError(
            f"{names} is set, but prometheus_client is not installed: pip install 'fnf[metrics]' "
            "(or unset it to run without metrics)"
        ) from None


def publish_start(settings: MetricsSettings, run_type: str, stream: int, at: float, planned: int) -> None:
    """A run holds its stream: its start (so that a run that dies shows) and what it has to do."""
    if not settings.enabled:
        return
    none: tuple[str, ...] = ()
    gauges: Gauges = {
        "fnf_run_last_start_timestamp_seconds": ("When the last run of this type and stream started.", {none: at}),
        "fnf_stream_remaining_clients": ("Clients of the sweep still to do.", {none: float(planned)}),
    }
    _publish(settings, run_type, stream, gauges)


def publish_end(settings: MetricsSettings, end: RunEnd) -> None:
    if not settings.enabled or end.outcome is Outcome.BUSY:
        return  # a busy tick did nothing: the stream's gauges are the live run's
    _publish(settings, end.run_type, end.stream, end_gauges(end))


Gauges = Mapping[str, tuple[str, Mapping[tuple[str, ...], float]]]
"""name -> (help, label values -> value); the label names are in ``_LABELS``."""

_LABELS = {"fnf_run_clients": ("status",), "fnf_run_outcome": ("outcome",), "fnf_run_failures": ("kind",)}


def end_gauges(end: RunEnd) -> dict[str, tuple[str, dict[tuple[str, ...], float]]]:
    counts, kinds = end.counts, parse_kinds(end.counts.failure_kinds)
    clients = {
        Status.COMPLETED.value: counts.completed,
        Status.FAILED.value: counts.failed,
        Status.CLIENT_TIMEOUT_KILLED.value: counts.timed_out,
        Status.JOB_TIMEOUT_KILLED.value: end.cut_short,
        "skipped": counts.skipped,
    }
    none: tuple[str, ...] = ()
    by_kind: dict[tuple[str, ...], float] = {(k.value,): float(kinds.get(k.value, 0)) for k in FailureKind}
    gauges: dict[str, tuple[str, dict[tuple[str, ...], float]]] = {
        "fnf_run_last_end_timestamp_seconds": ("When the last run of this type and stream ended.", {none: end.ended}),
        "fnf_run_duration_seconds": ("How long the last run took.", {none: end.ended - end.started}),
        "fnf_run_clients": ("Clients of the last run by final status.", {(k,): float(v) for k, v in clients.items()}),
        "fnf_run_outcome": ("1 for the last run's outcome.", {(o.value,): float(o is end.outcome) for o in Outcome}),
        "fnf_run_failures": ("Failed clients of the last run by kind.", by_kind),
        "fnf_stream_remaining_clients": ("Clients of the sweep still to do.", {none: float(counts.remaining)}),
    }
    if end.outcome in SUCCESS:
        gauges["fnf_run_last_success_timestamp_seconds"] = (
            "When a run of this type and stream last completed or stopped as planned.",
            {none: end.ended},
        )
    return gauges


def _publish(settings: MetricsSettings, run_type: str, stream: int, gauges: Gauges) -> None:
    if settings.pushgateway_url:
        try:
            _push(settings.pushgateway_url, run_type, stream, gauges)
        except Exception as exc:  # never the run's business
            log.warning("could not push metrics to FNF_PUSHGATEWAY_URL: %s", _safe(exc))
    if settings.textfile:
        path = settings.textfile.replace("{type}", run_type).replace("{stream}", str(stream))
        try:
            _write_textfile(path, gauges)
        except Exception as exc:
            log.warning("could not write the metrics file %s: %s", path, exc)


def _registry(gauges: Gauges, keep: Iterator[Any] | None = None) -> Any:
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    for name, (documentation, samples) in gauges.items():
        gauge = Gauge(name, documentation, _LABELS.get(name, ()), registry=registry)
        for labels, value in samples.items():
            (gauge.labels(*labels) if labels else gauge).set(value)
    kept = list(keep or ())
    if kept:
        registry.register(_Kept(kept))
    return registry


class _Kept:
    """Families of an earlier file that this write does not replace (the last success survives a
    failed run)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families


def _push(url: str, run_type: str, stream: int, gauges: Gauges) -> None:
    from prometheus_client import pushadd_to_gateway

    # POST: replaces only the metrics pushed now, so the last success of an earlier run stays
    pushadd_to_gateway(
        url,
        job="fnf",
        grouping_key={"type": run_type, "stream": str(stream)},
        registry=_registry(gauges),
        timeout=PUSH_TIMEOUT_SECONDS,
    )


def _write_textfile(path: str, gauges: Gauges) -> None:
    from prometheus_client import write_to_textfile
    from prometheus_client.parser import text_string_to_metric_families

    earlier: list[Any] = []
    if os.path.exists(path):
        with open(path) as handle:
            earlier = [f for f in text_string_to_metric_families(handle.read()) if f.name not in gauges]
    write_to_textfile(path, _registry(gauges, iter(earlier)))  # a temporary file renamed: atomic


def _safe(exc: Exception) -> str:
    """An error without the URL's credentials (a Pushgateway behind basic auth)."""
    text = str(exc)
    return text.split("@")[-1] if "://" in text and "@" in text else text


def stream_gauges(document: Mapping[str, Any]) -> tuple[bytes, str]:
    """``GET /metrics`` of ``fnf serve``: the per-stream gauges of the status document, with the
    content type Prometheus expects."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    labels = ("type", "stream")
    specs = {
        "clients": ("fnf_stream_clients", "Clients in the stream."),
        "remaining": ("fnf_stream_remaining_clients", "Clients of the open sweep still to do."),
        "failed": ("fnf_stream_failed_clients", "Clients FAILED in the open sweep."),
        "timed_out": ("fnf_stream_timed_out_clients", "Clients CLIENT_TIMEOUT_KILLED in the open sweep."),
        "quarantined": ("fnf_stream_quarantined_clients", "Clients quarantined."),
    }
    gauges = {key: Gauge(name, text, labels, registry=registry) for key, (name, text) in specs.items()}
    live = Gauge("fnf_stream_live_run", "1 while a live run holds the stream.", labels, registry=registry)
    last = Gauge(
        "fnf_stream_last_outcome",
        "1 for the outcome of the stream's last run.",
        (*labels, "outcome"),
        registry=registry,
    )
    for entry in document.get("streams", []):
        key = (str(entry["type"]), str(entry["stream"]))
        for field, gauge in gauges.items():
            gauge.labels(*key).set(float(entry.get(field) or 0))
        live.labels(*key).set(1.0 if entry.get("live_run") else 0.0)
        if entry.get("last_outcome"):
            last.labels(*key, str(entry["last_outcome"])).set(1.0)
    return generate_latest(registry), CONTENT_TYPE_LATEST
