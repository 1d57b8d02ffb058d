"""Event-time parsing and formatting: RFC 3339 with nanoseconds in, ISO 8601 with trailing Z out.

Why hand-rolled around ``datetime``: Alpaca timestamps carry nine fractional digits, which
``datetime.fromisoformat`` rejects, and every input record pays this cost, so the parse keeps a
small cache of whole-second prefixes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import numpy as np


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
    """Epoch nanoseconds -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (microseconds: what the upstream parses)."""
    seconds, rem = divmod(int(ts_ns), 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{rem // 1000:06d}Z"


def format_ts_ms(ts_ms: int) -> str:
    return format_ts_ns(int(ts_ms) * 1_000_000)


def parse_iso_ms(text: str) -> int:
    return parse_ts_ns(text) // 1_000_000



# Positions of YYYY-MM-DDTHH:MM:SS that hold digits, and of the separators between them.
_DIGIT_COLUMNS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_SEPARATORS = ((4, ord("-")), (7, ord("-")), (10, ord("T")), (13, ord(":")), (16, ord(":")))
# datetime64[ns] spans 1677-09-21 .. 2262-04-11; whole years strictly inside stay clear of both ends.
_MIN_YEAR, _MAX_YEAR = 1678, 2261


def parse_ts_ns_column(texts: list[str]) -> np.ndarray | None:
    """``parse_ts_ns`` of many timestamps at once, or None when this fast path can't vouch for them.

    Why: a run of quotes carries two timestamps each, and parsing them one by one costs more than
    the rest of the run's decoding. The column is taken only when every string has the same length
    and the exact shape ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`` (checked on the code points, vectorised);
    numpy then parses the calendar (it refuses a 30 February or a 24th hour). Anything else, or a
    year that epoch nanoseconds in int64 cannot hold, returns None and the caller takes the
    per-record path, which gives the exact value or the exact error.
    """
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        arr = np.array(texts)
    except (ValueError, TypeError):
        return None
    if arr.dtype.kind != "U" or arr.shape != (n,):
        return None
    width = arr.dtype.itemsize // 4
    if not (width == 20 or 22 <= width <= 30):
        return None
    codes = arr.view(np.uint32).reshape(n, width)
    # The last column is the 'Z' in every row: so every string is exactly ``width`` long.
    if not (codes[:, width - 1] == ord("Z")).all():
        return None
    for column, char in _SEPARATORS:
        if not (codes[:, column] == char).all():
            return None
    digit_columns = list(_DIGIT_COLUMNS)
    if width > 20:
        if not (codes[:, 19] == ord(".")).all():
            return None
        digit_columns.extend(range(20, width - 1))
    digits = codes[:, digit_columns] - ord("0")  # uint32: anything below '0' wraps to a huge value
    if not (digits <= 9).all():
        return None
    d = digits.astype(np.int64)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    hour, minute, second = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    if not (((year >= _MIN_YEAR) & (year <= _MAX_YEAR) & (month >= 1) & (month <= 12) & (day >= 1)
             & (hour <= 23) & (minute <= 59) & (second <= 59)).all()):
        return None
    # The calendar is numpy's: months since the epoch -> the first day of that month and of the next.
    months = (year - 1970) * 12 + (month - 1)
    first_day = months.astype("datetime64[M]").astype("datetime64[D]").view(np.int64)
    next_first_day = (months + 1).astype("datetime64[M]").astype("datetime64[D]").view(np.int64)
    if not (day <= next_first_day - first_day).all():
        return None
    seconds = (first_day + day - 1) * 86_400 + hour * 3_600 + minute * 60 + second
    fraction_digits = width - 21 if width > 20 else 0
    if fraction_digits == 0:
        return seconds * 1_000_000_000
    powers = 10 ** np.arange(8, 8 - fraction_digits, -1, dtype=np.int64)  # 1e8, 1e7, ... per digit
    return seconds * 1_000_000_000 + d[:, 14:] @ powers
