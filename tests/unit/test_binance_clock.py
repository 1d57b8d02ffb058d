"""The Binance producer puts quotes, trades and L2 books on one clock (the recorder's receive time).

Why it matters: the state's fill hazard and order-flow imbalance classify each trade against the quote
in force at its event time, and the replay calibrates its market on the same merged feed. With trades
on the venue clock (``T``, about 1.27 s ahead of the recorder's) and quotes on the receive clock, a trade
was compared with a quote over a second later: only ~13% of the recording's trades printed at that
quote's bid or ask, against ~50% on the receive clock.
"""

from __future__ import annotations

import gzip
import json

from producers.binance import binance_records
from producers.records import BOOK, QUOTE, TRADE
from streams.timeutil import parse_ts_ns
from tests.support.data import DATA_DIR

BTC = sorted((DATA_DIR / "binance").glob("*.gz"))


def _receive_times() -> tuple[list[int], dict[int, int]]:
    """Receive times of the bookTicker lines (file order) and of each trade by its trade id."""
    quotes: list[int] = []
    trades: dict[int, int] = {}
    for path in BTC:
        with gzip.open(path, "rt") as fh:
            for line in fh:
                recv, _, body = line.partition(" ")
                if "@bookTicker" in body[:40]:
                    quotes.append(int(recv))
                elif "@trade" in body[:40]:
                    trades[int(json.loads(body)["data"]["t"])] = int(recv)
    return quotes, trades


def test_quotes_and_trades_carry_the_receive_time_and_trades_keep_the_venue_time() -> None:
    records = list(binance_records(BTC, limit=3000))
    quote_recv, trade_recv = _receive_times()
    quotes = [r.ts_ns for r in records if r.kind == QUOTE]
    assert quotes and quotes == quote_recv[:len(quotes)]
    trades = [r for r in records if r.kind == TRADE]
    assert trades
    for r in trades:
        assert r.ts_ns == trade_recv[r.value["payload"]["i"]]
        assert abs(parse_ts_ns(r.value["eventTs"]) - r.ts_ns) < 1000  # text keeps microseconds
        assert abs(r.value["payload"]["vt"] * 1_000_000 - r.ts_ns) < 5_000_000_000  # the venue clock, kept


def test_books_carry_the_receive_time() -> None:
    books = [r for r in binance_records(BTC, limit=3000) if r.kind == BOOK]
    assert books
    for r in books:
        assert abs(parse_ts_ns(r.value["event_ts"]) - r.ts_ns) < 1000


def test_trades_line_up_with_the_quote_in_force() -> None:
    feed = sorted(binance_records(BTC, limit=30_000), key=lambda r: r.ts_ns)
    bid = ask = None
    n = at_touch = 0
    for r in feed:
        if r.kind == QUOTE:
            bid, ask = r.value["payload"]["bp"], r.value["payload"]["ap"]
        elif r.kind == TRADE and bid is not None:
            n += 1
            at_touch += r.value["payload"]["p"] in (bid, ask)
    assert n > 1000
    assert at_touch / n > 0.35  # venue clock: ~0.13 over the whole recording
