"""The compiled timestamp pass (torghut_domain/ts_kernel.py) against the per-record parse.

What could fail: a calendar edge (leap years, month ends, years at the int64 limits) computed
differently from ``parse_ts_ns``; a malformed text accepted; texts of different lengths lined up
by the joined buffer into rows that look valid.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns, parse_ts_ns_column
from torghut_domain.ts_kernel import parse_ts_ns_fixed


def _exact(texts: list[str]) -> list[int] | None:
    try:
        return [parse_ts_ns(text) for text in texts]
    except TimestampError:
        return None


def test_values_equal_the_per_record_parse_for_every_fraction_width() -> None:
    rng = random.Random(3)
    for width in range(10):
        texts = []
        for _ in range(400):
            base = format_ts_ns(rng.randrange(-9 * 10**18, 9 * 10**18))[:19]
            digits = "".join(rng.choice("0123456789") for _ in range(width))
            texts.append(base + (f".{digits}" if width else "") + "Z")
        got = parse_ts_ns_fixed(texts)
        assert got is not None
        assert got.tolist() == _exact(texts)
        column = parse_ts_ns_column(texts)
        assert column is not None and column.tolist() == got.tolist()


def test_calendar_edges() -> None:
    texts = ["2024-02-29T23:59:59.999999Z", "2000-02-29T00:00:00.000000Z", "1970-01-01T00:00:00.000000Z",
             "1969-12-31T23:59:59.999999Z", "1678-01-01T00:00:00.000000Z", "2261-12-31T23:59:59.999999Z",
             "2100-03-01T12:00:00.500000Z", "1900-02-28T00:00:00.000001Z"]
    got = parse_ts_ns_fixed(texts)
    assert got is not None and got.tolist() == _exact(texts)
    for bad in ("2023-02-29T00:00:00.000000Z", "1900-02-29T00:00:00.000000Z", "2024-04-31T00:00:00.000000Z",
                "2024-13-01T00:00:00.000000Z", "2024-00-01T00:00:00.000000Z", "2024-01-00T00:00:00.000000Z",
                "2024-01-01T24:00:00.000000Z", "2024-01-01T00:60:00.000000Z", "2024-01-01T00:00:60.000000Z",
                "1677-12-31T00:00:00.000000Z", "2262-01-01T00:00:00.000000Z", "2024-01-01 00:00:00.000000Z",
                "2024-01-01T00:00:00,000000Z", "2024-01-01T00:00:00.00000aZ", "2024-01-01T00:00:00.000000z",
                "2024-01-01T00:00:00.000000\n", "2024-01-01T00:00:00.0000٠0Z"):
        assert parse_ts_ns_fixed(["2024-01-01T00:00:00.000000Z", bad]) is None, bad


def test_texts_of_different_lengths_are_not_lined_up() -> None:
    """One text a character short and the next one long: their total length fits the rows, and the
    rows would read as two valid timestamps if the buffer were cut by length alone."""
    short, long_ = "2025-12-29T09:20:00.00000", "Z2025-12-29T09:20:00.000000Z"
    assert parse_ts_ns_fixed([short, long_]) is None
    assert parse_ts_ns_fixed(["2025-12-29T09:20:00Z", "2025-12-29T09:20:00.1Z"]) is None
    assert parse_ts_ns_fixed(["2025-12-29T09:20:00.1Z\n2025-12-29T09:20:00.1Z"[:22], "x" * 22]) is None


_TEXT = st.text(alphabet="0123456789-T:.Z\n 9", min_size=18, max_size=31)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))),
                min_size=1, max_size=6))
def test_accepts_only_what_the_per_record_parse_accepts_with_its_values(texts: list[str]) -> None:
    got = parse_ts_ns_fixed(texts)
    if got is not None:
        assert got.tolist() == _exact(texts)
