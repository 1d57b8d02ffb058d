"""A small stateful processor for exercising the runtime end to end.

Its output depends on every earlier record of the same symbol (a running count and sum), so a
lost, duplicated or reordered input, or state restored wrongly after a crash, changes the values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from streams.processor import FORMAT_AVRO, FORMAT_RAW, Emit, InvalidRecord, KeyValueState, SourceRecord
from streams.timeutil import parse_ts_ns
from torghut_domain.envelopes import parse_quote
from torghut_domain.formats import FORMAT_TORGHUT_JSON

SUMMARY_SCHEMA = str(Path(__file__).with_name("quote_summary_v1.avsc"))


class QuoteSummaryProcessor:
    name = "quote-summary"

    def __init__(self, quotes_topic: str, out_topic: str, book_topic: str | None = None,
                 stateful: bool = True, busy_us: int = 0) -> None:
        self.input_formats = {quotes_topic: FORMAT_TORGHUT_JSON}
        self.input_schemas: dict[str, str] = {}
        if book_topic:
            self.input_formats[book_topic] = FORMAT_AVRO
            self.input_schemas[book_topic] = "l2_book_v1"
        self.output_schemas = {out_topic: SUMMARY_SCHEMA}
        self.out_topic = out_topic
        self.stateful = stateful
        self.busy_ns = busy_us * 1000  # simulated per-record work, so crash tests can kill mid-batch

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        if record.value is None:
            raise InvalidRecord("null_value")
        if self.input_formats[record.topic] == FORMAT_AVRO:
            book = record.value
            if not book["bids"] or not book["asks"]:
                raise InvalidRecord("empty_book")
            symbol, bid, ask = book["symbol"], book["bids"][0]["price"], book["asks"][0]["price"]
            ts_ns, source = parse_ts_ns(book["event_ts"]), "book"
        else:
            quote = parse_quote(record.value)
            symbol, bid, ask, ts_ns, source = quote.symbol, quote.bid_price, quote.ask_price, quote.event_ts_ns, "quote"
        if self.busy_ns:
            until = time.perf_counter_ns() + self.busy_ns
            while time.perf_counter_ns() < until:
                pass
        mid = (bid + ask) / 2.0
        previous = (state.get(symbol) if self.stateful else None) or {"seq": 0, "cum_mid": 0.0}
        current = {"seq": previous["seq"] + 1, "cum_mid": previous["cum_mid"] + mid}
        if self.stateful:
            state.put(symbol, current)
        yield Emit(self.out_topic, symbol, {
            "symbol": symbol, "seq": current["seq"], "event_ts_ns": ts_ns, "mid": mid,
            "spread_bps": (ask - bid) / mid * 1e4, "cum_mid": current["cum_mid"], "source": source,
            "source_offset": record.offset,
        }, timestamp_ms=ts_ns // 1_000_000)


class StampingProcessor:
    """Raw in, raw out. Per input value ``i``: odd ``i`` gives a record stamped ``shift_ms`` away from
    its input, with headers, placed beside ``place-<i>``; even ``i`` a bare record keeping the input's
    timestamp. A shift over the broker's future bound makes every odd output one the broker refuses."""

    name = "stamper"

    def __init__(self, source: str, sink: str, shift_ms: int) -> None:
        self.input_formats = {source: FORMAT_RAW}
        self.output_schemas: dict[str, str | None] = {sink: None}
        self.sink = sink
        self.shift_ms = shift_ms

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        i = int(record.value or b"0")
        if i % 2:
            yield Emit(self.sink, f"k{i}", record.value, record.timestamp_ms + self.shift_ms,
                       (("i", str(i).encode()), ("kind", b"odd")), partition_key=f"place-{i}")
        else:
            yield Emit(self.sink, f"k{i}", record.value)
