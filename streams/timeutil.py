"""Event-time parsing and formatting: RFC 3339 with nanoseconds in, ISO 8601 with trailing Z out.

Why hand-rolled around ``datetime``: Alpaca timestamps carry nine fractional digits, which
``datetime.fromisoformat`` rejects, and every input record pays this cost, so the parse keeps a
small cache of whole-second prefixes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache


class TimestampError(ValueError):
    pass


@lru_cache(maxsize=4096)
def _epoch_seconds(prefix: str, tz: str) -> int:
    try:
        dt = datetime.fromisoformat(prefix + tz)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3339 timestamp: {prefix}{tz!s}") from exc
    if dt.tzinfo is None:
        raise TimestampError(f"timestamp has no timezone: {prefix}")
    return int(dt.timestamp())


def parse_ts_ns(text: str) -> int:
    """RFC 3339 / ISO 8601 (Z or offset, 0-9 fractional digits) -> epoch nanoseconds."""
    if not isinstance(text, str) or len(text) < 19:
        raise TimestampError(f"not an RFC 3339 timestamp: {text!r}")
    s = text.strip()
    if s.endswith(("Z", "z")):
        body, tz = s[:-1], "+00:00"
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        body, tz = s[:-6], s[-6:]
    else:
        raise TimestampError(f"timestamp has no timezone: {text!r}")
    frac_ns = 0
    dot = body.find(".", 19)
    if dot != -1:
        digits = body[dot + 1 :]
        if not digits.isdigit() or len(digits) > 9:
            raise TimestampError(f"bad fractional seconds in {text!r}")
        frac_ns = int(digits.ljust(9, "0"))
        body = body[:dot]
    return _epoch_seconds(body.replace(" ", "T"), tz) * 1_000_000_000 + frac_ns


def format_ts_ns(ts_ns: int) -> str:
    """Epoch nanoseconds -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (microseconds: what Torghut parses)."""
    seconds, rem = divmod(int(ts_ns), 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{rem // 1000:06d}Z"


def format_ts_ms(ts_ms: int) -> str:
    return format_ts_ns(int(ts_ms) * 1_000_000)


def parse_iso_ms(text: str) -> int:
    return parse_ts_ns(text) // 1_000_000


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
