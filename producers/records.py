"""What a feed produces: Torghut-shaped market records, independent of where they came from.

Why a neutral record: the same recorded day feeds Kafka (`microexec feed replay`), the offline
driver (quants' file replays) and the tests, and all three must see byte-identical envelopes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streams.timeutil import format_ts_ns

QUOTE, TRADE, BOOK = "quotes", "trades", "book_l2"


@dataclass(frozen=True, slots=True)
class FeedRecord:
    kind: str  # QUOTE | TRADE | BOOK: the catalog key of the topic it goes to
    symbol: str
    ts_ns: int  # event time
    value: dict[str, Any]  # the JSON envelope (quotes, trades) or the Avro record (book)

    def json_bytes(self) -> bytes:
        return json.dumps(self.value, separators=(",", ":")).encode()


def quote_record(symbol: str, ts_ns: int, ingest_ns: int, bid: float, bid_size: float, ask: float, ask_size: float,
                 seq: int, feed: str, exchange: str = "", source: str = "microexec-replay") -> FeedRecord:
    ts = format_ts_ns(ts_ns)
    return FeedRecord(QUOTE, symbol, ts_ns, {
        "ingestTs": format_ts_ns(ingest_ns), "eventTs": ts, "feed": feed, "channel": "quotes", "symbol": symbol,
        "seq": seq, "source": source, "version": 1, "isFinal": True,
        "payload": {"T": "q", "S": symbol, "bx": exchange, "bp": bid, "bs": bid_size, "ax": exchange, "ap": ask,
                    "as": ask_size, "c": [], "t": ts, "z": ""},
    })


def trade_record(symbol: str, ts_ns: int, ingest_ns: int, price: float, size: float, trade_id: int, seq: int,
                 feed: str, exchange: str = "", source: str = "microexec-replay") -> FeedRecord:
    ts = format_ts_ns(ts_ns)
    return FeedRecord(TRADE, symbol, ts_ns, {
        "ingestTs": format_ts_ns(ingest_ns), "eventTs": ts, "feed": feed, "channel": "trades", "symbol": symbol,
        "seq": seq, "source": source, "version": 1, "isFinal": True,
        "payload": {"T": "t", "S": symbol, "i": trade_id, "x": exchange, "p": price, "s": size, "c": [], "t": ts,
                    "z": ""},
    })
