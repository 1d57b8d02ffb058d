"""Event-time parsing and formatting: RFC 3339 with nanoseconds in, ISO 8601 with trailing Z out.

Why hand-rolled around ``datetime``: Alpaca timestamps carry nine fractional digits, which
``datetime.fromisoformat`` rejects, and every input record pays this cost, so the parse keeps a
small cache of whole-second prefixes.
"""

from __future__ import annotations

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


_SECOND_CACHE: dict[str, int] = {}
_FRACTION_SCALE = tuple(10 ** (9 - n) for n in range(10))


def parse_ts_ns(text: str) -> int:
    """RFC 3339 / ISO 8601 (Z or offset, 0-9 fractional digits) -> epoch nanoseconds.

    The fast path covers what feeds send (``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z``) with a cache of whole
    seconds; everything else takes the general path, which also produces the error messages.
    """
    if type(text) is str and len(text) >= 20 and text[-1] == "Z" and text[10] == "T":
        second = _SECOND_CACHE.get(text[:19])
        if second is None and text[4] == "-" and text[13] == ":":
            second = _epoch_seconds(text[:19], "+00:00")
            if len(_SECOND_CACHE) > 100_000:
                _SECOND_CACHE.clear()
            _SECOND_CACHE[text[:19]] = second
        if second is not None:
            if len(text) == 20:
                return second * 1_000_000_000
            digits = text[20:-1]
            if text[19] == "." and 0 < len(digits) <= 9 and digits.isdigit():
                return second * 1_000_000_000 + int(digits) * _FRACTION_SCALE[len(digits)]
    return _parse_general(text)


def _parse_general(text: str) -> int:
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

