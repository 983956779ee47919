"""Airtable's clock, read from the ``Date`` header of its answers.

Runs on many hosts share one base; their wall clocks may disagree by minutes or step while they
run. Heartbeats written and judged on Airtable's clock make "this run is dead" mean the same on
every host. The header has one-second resolution, so each answer only bounds the server's time:
it lies in ``[date, date + 1)`` at some instant between sending and receiving. Each answer
narrows an interval on the offset between the server's clock and this process's monotonic clock
(which no one steps); the estimate is its middle, within half a second after one answer and a few
milliseconds after a few dozen.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


class ServerClock:
    def __init__(self) -> None:
        self._low = -math.inf
        self._high = math.inf

    def observe(self, date_header: str | None, sent: float, received: float) -> None:
        """Narrow the offset with one answer's ``Date``, sent and received on the monotonic clock."""
        if not date_header:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        low, high = server - received, server + 1.0 - sent
        if low > self._high or high < self._low:
            self._low, self._high = low, high  # the server's clock stepped: start over from this answer
        else:
            self._low, self._high = max(self._low, low), min(self._high, high)

    def now(self) -> datetime | None:
        """The server's time now, or None before any answer."""
        if self._low == -math.inf:
            return None
        return datetime.fromtimestamp(time.monotonic() + (self._low + self._high) / 2, UTC)

    def response_hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """A ``requests`` response hook: every answer of the session feeds the clock."""
        received = time.monotonic()
        elapsed = response.elapsed.total_seconds() if response.elapsed is not None else 0.0
        self.observe(response.headers.get("Date"), received - elapsed, received)
