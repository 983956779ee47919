"""Airtable's clock from its Date headers: one-second stamps narrowed into milliseconds."""

from __future__ import annotations

import time
from email.utils import formatdate

from fnf.store.airtable.clock import ServerClock


def test_no_answer_no_clock() -> None:
    assert ServerClock().now() is None


def test_answers_narrow_the_estimate_to_well_under_a_second() -> None:
    """A server 1000.3 s ahead of this process, answering in 10 ms: each Date is whole seconds."""
    clock = ServerClock()
    skew = 1000.3
    for step in range(40):
        sent = time.monotonic() + step * 0.037
        received = sent + 0.01
        server = time.time() + skew + step * 0.037 + 0.005
        clock.observe(formatdate(int(server), usegmt=True), sent, received)
    now = clock.now()
    assert now is not None
    assert abs(now.timestamp() - (time.time() + skew)) < 0.1


def test_a_server_clock_that_steps_starts_the_estimate_over() -> None:
    clock = ServerClock()
    base = time.monotonic()
    clock.observe(formatdate(time.time(), usegmt=True), base, base + 0.01)
    clock.observe(formatdate(time.time() + 600, usegmt=True), base + 0.02, base + 0.03)
    now = clock.now()
    assert now is not None and abs(now.timestamp() - (time.time() + 600)) < 1.5


def test_a_missing_or_garbled_header_is_ignored() -> None:
    clock = ServerClock()
    clock.observe(None, 0.0, 0.1)
    clock.observe("yesterday-ish", 0.0, 0.1)
    assert clock.now() is None
