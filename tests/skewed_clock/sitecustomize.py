"""Makes this process's wall clock wrong by FNF_TEST_CLOCK_SKEW_SECONDS, as on a host whose clock
is ahead or behind (or was stepped): ``time.time`` and ``datetime.now`` are shifted; the
monotonic and boot clocks are not, as on a real machine. Put this directory first on PYTHONPATH.
"""

from __future__ import annotations

import datetime as _datetime
import os
import time as _time

_SKEW = float(os.environ.get("FNF_TEST_CLOCK_SKEW_SECONDS", "0") or 0)

if _SKEW:
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _time.time = lambda: _real_time() + _SKEW
    _time.time_ns = lambda: _real_time_ns() + int(_SKEW * 1e9)

    class _SkewedDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> _SkewedDatetime:  # type: ignore[override]
            return super().now(tz) + _datetime.timedelta(seconds=_SKEW)

        @classmethod
        def utcnow(cls) -> _SkewedDatetime:  # type: ignore[override]
            return super().utcnow() + _datetime.timedelta(seconds=_SKEW)

    _datetime.datetime = _SkewedDatetime  # type: ignore[misc]
