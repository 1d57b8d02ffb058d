"""Fixed-width ISO-8601 timestamps of a run parsed in one compiled pass over their bytes.

Why: a run of quotes carries two timestamps a record, and the numpy column parse
(``streams.timeutil.parse_ts_ns_column``) spends ~0.27 us a timestamp in some thirty whole-array
operations (a 4-byte code point array, temporaries, a numpy calendar). The feeds send one shape,
``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z``, so the run's strings are joined into one ASCII buffer, viewed as
an (n, width) byte matrix and checked and converted row by row in numba: ~0.05 us a timestamp
(measured, benchmarks/state_cpu.py). It accepts exactly what the numpy column accepts (the same
shape, year, field and calendar checks; ``tests/unit/test_ts_kernel.py`` holds the two equal on
valid, invalid and random text) and anything else returns None: the caller then takes the column
or the per-record parse, which give the exact value or the exact error.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_MIN_YEAR, _MAX_YEAR = 1678, 2261  # as parse_ts_ns_column: whole years inside datetime64[ns]


@nb.njit(cache=True)
def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm, as numpy's calendar)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@nb.njit(cache=True)
def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if (m == 4 or m == 6 or m == 9 or m == 11) else 31


@nb.njit(cache=True)
def _digit(c: int) -> int:
    """The digit's value, or -1 for anything that is not an ASCII digit."""
    return c - 48 if 48 <= c <= 57 else -1


@nb.njit(cache=True)
def parse_rows(rows: np.ndarray, out: np.ndarray) -> bool:
    """Epoch ns of each row of ``rows`` ((n, width + 1) uint8, each row one timestamp and a newline)
    into ``out``; False (``out`` then unspecified) as soon as one row is not of the accepted shape."""
    n, width = rows.shape[0], rows.shape[1] - 1
    if not (width == 20 or 22 <= width <= 30):
        return False
    fraction_digits = width - 21 if width > 20 else 0
    scale = 1
    for _ in range(9 - fraction_digits):
        scale *= 10
    last_key = -1  # the date and time fields of the previous row, to skip the calendar when equal
    last_seconds = 0
    for i in range(n):
        r = rows[i]
        if (r[width] != 10 or r[width - 1] != 90 or r[4] != 45 or r[7] != 45 or r[10] != 84 or r[13] != 58
                or r[16] != 58):  # Z - - T : :
            return False
        if width > 20 and r[19] != 46:  # .
            return False
        d0, d1, d2, d3 = _digit(r[0]), _digit(r[1]), _digit(r[2]), _digit(r[3])
        mo0, mo1, dd0, dd1 = _digit(r[5]), _digit(r[6]), _digit(r[8]), _digit(r[9])
        h0, h1, mi0, mi1 = _digit(r[11]), _digit(r[12]), _digit(r[14]), _digit(r[15])
        s0, s1 = _digit(r[17]), _digit(r[18])
        if (d0 | d1 | d2 | d3 | mo0 | mo1 | dd0 | dd1 | h0 | h1 | mi0 | mi1 | s0 | s1) < 0:  # -1 is negative
            return False
        year = d0 * 1000 + d1 * 100 + d2 * 10 + d3
        month, day = mo0 * 10 + mo1, dd0 * 10 + dd1
        hour, minute, second = h0 * 10 + h1, mi0 * 10 + mi1, s0 * 10 + s1
        if hour > 23 or minute > 59 or second > 59:
            return False
        key = ((year * 100 + month) * 100 + day) * 100_000 + hour * 3600 + minute * 60 + second
        if key != last_key:
            if not (_MIN_YEAR <= year <= _MAX_YEAR and 1 <= month <= 12 and 1 <= day <= _month_days(year, month)):
                return False
            last_seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            last_key = key
        fraction = 0
        for j in range(20, width - 1):
            v = _digit(r[j])
            if v < 0:
                return False
            fraction = fraction * 10 + v
        out[i] = last_seconds * 1_000_000_000 + fraction * scale
    return True


def parse_ts_ns_fixed(texts: list[str]) -> np.ndarray | None:
    """``parse_ts_ns`` of every text as int64, when all have one length and the feeds' shape; else None."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        width = len(texts[0])
        # Newline-separated: the kernel wants a newline at the end of every row and accepts none
        # anywhere else, so a row can only be a whole text (n - 1 separators in n - 1 row ends) and
        # every text is exactly ``width`` long, without a pass over the lengths.
        joined = ("\n".join(texts) + "\n").encode("ascii")
    except (UnicodeEncodeError, TypeError):
        return None
    if len(joined) != n * (width + 1):
        return None
    out = np.empty(n, dtype=np.int64)
    if not parse_rows(np.frombuffer(joined, dtype=np.uint8).reshape(n, width + 1), out):
        return None
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel before the first run."""
    parse_ts_ns_fixed(["1970-01-01T00:00:00.000000Z"])
