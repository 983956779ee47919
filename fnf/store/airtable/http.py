"""Talking to Airtable politely: pyairtable with client-side pacing and bounded, safe retries.

Airtable allows 5 requests per second per base and refuses everything for 30 seconds after a
breach. pyairtable's own retry gives up after a few seconds, so it is switched off and replaced:

* every request waits for its slot (at most ``requests_per_second``, shared by all threads);
* a 429 is waited out (``rate_limit_wait``) and retried: it was never processed;
* 5xx answers, timeouts and dropped connections are retried with jittered backoff, but only
  for requests that are safe to repeat (reads, updates by id, upserts, deletes). fnf creates
  records by upsert on a unique key, so a repeated write never duplicates a record;
* one operation retries for at most ``retry_budget`` seconds, then raises
  :class:`StoreUnavailableError`, which stops a run as interrupted.

This module imports pyairtable; only the Airtable store imports this module.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import requests
from pyairtable import Api
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_before_delay

from fnf.config import AirtableSettings
from fnf.errors import SchemaError, StoreError, StoreUnavailableError
from fnf.stop import StopFlag
from fnf.store.airtable.clock import ServerClock

log = logging.getLogger("fnf.airtable")

IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE"})


class RecordGoneError(StoreError):
    """A record fnf addressed by id was deleted meanwhile (an operator removed a client)."""


class ListingExpiredError(StoreError):
    """A paged listing's offset expired before the next page was fetched; the listing restarts."""


_PACERS: dict[tuple[str, float, tuple[int, int] | None], Pacer] = {}
_PACERS_LOCK = threading.Lock()


class Pacer:
    """Request starts spaced ``(1 + MARGIN) / rate`` seconds apart, across threads; with a slot,
    only in this run's slot of the base's cycle.

    Airtable counts arrivals in any rolling second. Spacing starts exactly ``1 / rate`` apart
    leaves no room for network jitter, so starts are spaced 20% wider: any ``rate`` consecutive
    arrivals of one process span more than a second unless the network delays one by more than
    ``MARGIN / rate`` seconds more than its neighbour. Up to five processes at whole-number shares
    (``5 // N`` each) can therefore never put six arrivals in a second between them.

    More processes than five cannot share by rate alone: six of them may each send one request in
    the same second. For those, ``slot=(i, n)`` gives run ``i`` of ``n`` the ``i``-th quarter
    second of every ``n / 4``-second cycle (on the wall clock, which hosts keep within a few
    milliseconds with NTP), and it starts at most one request per slot. A rolling second then
    holds at most four slot starts, five if an arrival is delayed by up to a slot, never six.

    After a 429 (others use the base too) the pace halves, then recovers by a fifth per success.
    """

    MARGIN = 0.2
    SLOWEST = 1.0
    SLOT_SECONDS = 0.25

    def __init__(
        self,
        rate: float,
        *,
        slot: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.base_interval = (1.0 + self.MARGIN) / rate
        self.interval = self.base_interval
        self.slowest = max(self.SLOWEST, 4 * self.base_interval)
        self.grid = slot
        self._clock, self._wall = clock, wall
        self._next = 0.0
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, base_url: str, rate: float, slot: tuple[int, int] | None = None) -> Pacer:
        """The one pacer of this process for a base: two stores opened one after the other (a
        command that applies, then checks) must not each think they have the base's budget."""
        with _PACERS_LOCK:
            pacer = _PACERS.get((base_url, rate, slot))
            if pacer is None:
                pacer = _PACERS[(base_url, rate, slot)] = cls(rate, slot=slot)
            return pacer

    def slot(self) -> float:
        """Reserve the next start; returns how long to wait for it."""
        with self._lock:
            now = self._clock()
            start = self._earliest(now)
            if self.grid is None:
                self._next = start + self.interval
            else:
                period = self.grid[1] * self.SLOT_SECONDS
                self._next = start + max(self.interval, period / 2)  # the next start falls in a later cycle
            return start - now

    def delay(self) -> float:
        """How long a request started now would wait for its slot (nothing is reserved)."""
        with self._lock:
            now = self._clock()
            return self._earliest(now) - now

    def _earliest(self, now: float) -> float:
        """The first moment a request may start: after the last reserved one, in this run's slot."""
        start = max(now, self._next)
        return start if self.grid is None else self._on_grid(start, now)

    def _on_grid(self, start: float, now: float) -> float:
        """The first start of this run's slot at or after ``start`` (monotonic seconds)."""
        assert self.grid is not None
        index, count = self.grid
        period, phase = count * self.SLOT_SECONDS, (index - 1) * self.SLOT_SECONDS
        offset = self._wall() - now
        cycles = math.ceil((start + offset - phase) / period)
        return phase + cycles * period - offset

    def wait(self) -> None:
        delay = self.slot()
        if delay > 0:
            time.sleep(delay)

    def slow_down(self) -> None:
        with self._lock:
            self.interval = min(self.slowest, max(self.interval * 2, self.base_interval * 2))

    def speed_up(self) -> None:
        with self._lock:
            self.interval = max(self.base_interval, self.interval * 0.8)


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code
    return None


def error_body(exc: BaseException) -> tuple[str, str]:
    """(type, message) from an Airtable error answer, as far as it has them."""
    if not isinstance(exc, requests.HTTPError) or exc.response is None:
        return "", str(exc)
    try:
        body = exc.response.json()
    except ValueError:
        return "", exc.response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("type", "")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, str(body.get("message", ""))
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("error", "")), str(errors[0].get("message", ""))
    return "", str(body)[:200]


class PacedApi(Api):
    """pyairtable's Api with fnf's pacing and retry policy around every request."""

    def __init__(self, settings: AirtableSettings, *, stop: StopFlag | None = None) -> None:
        super().__init__(
            settings.api_key,
            timeout=cast(Any, (min(10.0, settings.timeout), settings.timeout)),
            retry_strategy=None,
            endpoint_url=settings.endpoint_url,
        )
        self.settings = settings
        self.clock = ServerClock()
        self.session.hooks["response"].append(self.clock.response_hook)
        self.pacer = Pacer.shared(
            f"{settings.endpoint_url}/{settings.base_id}", settings.requests_per_second, settings.slot
        )
        self.budget = settings.retry_budget
        self.requests_made = 0
        self.rate_limited = 0
        self.stop = stop

    def _sleep(self, seconds: float) -> None:
        if self.stop is None:
            time.sleep(seconds)
            return
        self.stop.sleep(seconds)
        if self.stop.requested:
            raise StoreUnavailableError(f"stopped by {self.stop.reason} while waiting to retry Airtable")

    @contextmanager
    def budget_of(self, seconds: float) -> Iterator[None]:
        """Retry for at most ``seconds`` inside the block (heartbeats must not stall a deadline)."""
        saved = self.budget
        self.budget = min(saved, seconds)
        try:
            yield
        finally:
            self.budget = saved

    def request(
        self,
        method: str,
        url: str,
        fallback: tuple[str, str] | None = None,
        options: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        verb = method.upper()
        safe = verb in IDEMPOTENT or str(url).endswith("/listRecords")

        def retryable(exc: BaseException) -> bool:
            status = _status(exc)
            if status == 429:
                return True
            if status is not None:
                return status >= 500 and safe
            return isinstance(exc, requests.ConnectionError | requests.Timeout) and safe

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if exc is not None and _status(exc) == 429:
                self.rate_limited += 1
                self.pacer.slow_down()
                # every process that breached waits out the same penalty: spread their returns
                # so that they do not all come back in the same second and breach it again
                return float(self.settings.rate_limit_wait) * random.uniform(1.05, 1.5)
            backoff: float = min(8.0, 0.25 * 2.0 ** (state.attempt_number - 1))
            return backoff * (0.5 + random.random())

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.upcoming_sleep
            level = logging.DEBUG if self.settings.interactive else logging.WARNING  # one line at the end will do
            log.log(level, "Airtable %s %s failed (%s); retrying in %.1f s", verb, _path(url), _describe(exc), sleep)

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            wait=wait,
            stop=stop_before_delay(self.budget),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        started = time.monotonic()
        try:
            for attempt in retrying:
                with attempt:
                    self.pacer.wait()
                    self.requests_made += 1
                    answer = super().request(method, url, fallback=fallback, options=options, params=params, json=json)
                    self.pacer.speed_up()
                    return answer
        except (requests.HTTPError, requests.ConnectionError, requests.Timeout) as exc:
            raise _translate(exc, verb, url, time.monotonic() - started, retryable(exc), self.settings) from None
        raise AssertionError("unreachable")  # pragma: no cover


def _path(url: object) -> str:
    text = str(url)
    return text.split("/v0/", 1)[-1].split("?", 1)[0]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    status = _status(exc)
    if status is not None:
        kind, message = error_body(exc)
        return f"HTTP {status} {kind}".strip() + (f": {message}" if message else "")
    return type(exc).__name__


def _translate(
    exc: BaseException, verb: str, url: object, elapsed: float, was_retryable: bool, settings: AirtableSettings
) -> StoreError:
    status = _status(exc)
    where = _path(url)
    if was_retryable:
        limit = (
            f"interactive commands give up after {settings.retry_budget:g} s (runs retry for "
            "AIRTABLE_RETRY_BUDGET_SECONDS)"
            if settings.interactive
            else "gave up after AIRTABLE_RETRY_BUDGET_SECONDS"
        )
        return StoreUnavailableError(
            f"Airtable at {settings.endpoint_url} did not answer {verb} {where} successfully for {elapsed:.0f} s "
            f"({_describe(exc)}); {limit}. Check the network, or https://status.airtable.com"
        )
    if status is None:
        return StoreUnavailableError(
            f"Airtable {verb} {where} failed ({_describe(exc)}); not retried because the request may have been applied"
        )
    kind, message = error_body(exc)
    if kind == "ROW_DOES_NOT_EXIST" or (status == 404 and kind == "NOT_FOUND" and "record" in message.lower()):
        return RecordGoneError(f"Airtable: {message or kind} ({verb} {where})")
    if status in (401, 403):
        return StoreError(
            f"Airtable refused the request ({status} {kind}: {message}): check that AIRTABLE_API_KEY is a valid "
            "personal access token with the scopes data.records:read, data.records:write, schema.bases:read "
            "(and schema.bases:write for fnf schema apply) and access to AIRTABLE_BASE_ID"
        )
    if kind == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE":
        return ListingExpiredError(f"Airtable: {message or kind} ({verb} {where})")
    if kind in ("UNKNOWN_FIELD_NAME", "INVALID_FILTER_BY_FORMULA", "TABLE_NOT_FOUND") or status == 404:
        return SchemaError(
            f"Airtable: {message or kind} ({verb} {where}); run fnf schema check to see what the base lacks "
            "and fnf schema apply to create it"
        )
    return StoreError(f"Airtable answered {status} {kind} to {verb} {where}: {message}")


LISTING_RESTARTS = 3


def every(table: Any, **options: Any) -> list[dict[str, Any]]:
    """Every matching record, page by page. Airtable's page offsets expire (after a few minutes,
    or when a retried request outlives them): the listing then starts over."""
    options.setdefault("page_size", 100)
    for _ in range(LISTING_RESTARTS):
        try:
            return list(table.all(**options))
        except ListingExpiredError as exc:
            log.warning("%s; reading the whole listing again", exc)
    return list(table.all(**options))


def first(table: Any, **options: Any) -> dict[str, Any] | None:
    """The first matching record (in ``sort`` order), or None: one small request."""
    found = table.first(**options)
    return None if found is None else dict(found)
