"""Binance combined-stream recordings (hftbacktest format) -> Torghut quotes, trades and L2 books.

Each line: local receive time in ns, a space, the stream JSON. Every record's event time is its
receive time, the one clock all three streams share: ``bookTicker`` carries no venue time at all, and
the recorder's clock is not the venue's (on ``data/binance`` a trade's receive time is 1.07-1.27 s
*before* its venue trade time ``T``, 1st-99th percentile, so the two clocks are offset by more than a
second). Stamping trades with ``T`` and quotes with the receive time put every trade about 1.27 s
after the quotes around it once merged in event time: only 13% of trades then printed at the
prevailing bid or ask (87% outside the spread), which misclassified the trade flow that the state's
fill hazard and order-flow imbalance read and the replay's calibration maps. The venue's ``T`` is kept
as the trade id's neighbour in the payload (``vt``, ms). The depth book is rebuilt from the REST
snapshot plus ``depthUpdate`` diffs (applied only once the snapshot's ``lastUpdateId`` is bridged, as
Binance documents) and emitted as the top levels of each side.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from producers.records import BOOK, FeedRecord, quote_record, trade_record
from streams.timeutil import format_ts_ns


class BinanceFormatError(ValueError):
    pass


def _apply_levels(levels: dict[float, float], updates: list[list[str]]) -> None:
    """A depth diff sets each level's absolute quantity; zero removes the level."""
    for price, qty in updates:
        p, q = float(price), float(qty)
        if q > 0:
            levels[p] = q
        else:
            levels.pop(p, None)


def _top(levels: dict[float, float], reverse: bool, depth: int) -> list[dict[str, float]]:
    prices = sorted(levels, reverse=reverse)[:depth]
    return [{"price": p, "size": levels[p]} for p in prices]


def binance_records(paths: list[Path], *, symbol: str | None = None, depth: int = 5,
                    limit: int | None = None) -> Iterator[FeedRecord]:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    last_update: int | None = None
    seq = 0
    for path in paths:
        with gzip.open(path, "rt") as lines:
            for line_no, line in enumerate(lines, start=1):
                if limit is not None and seq >= limit:
                    return
                recv, _, body = line.partition(" ")
                try:
                    recv_ns, doc = int(recv), json.loads(body)
                except ValueError as exc:
                    raise BinanceFormatError(f"{path.name}:{line_no}: {exc}") from exc
                if "lastUpdateId" in doc:  # REST snapshot: the book starts here
                    bids = {float(p): float(q) for p, q in doc["bids"] if float(q) > 0}
                    asks = {float(p): float(q) for p, q in doc["asks"] if float(q) > 0}
                    last_update = int(doc["lastUpdateId"])
                    continue
                data = doc.get("data", {})
                stream = doc.get("stream", "")
                sym = symbol or data.get("s", "UNKNOWN")
                if stream.endswith("@bookTicker"):
                    seq += 1
                    yield quote_record(sym, recv_ns, recv_ns, float(data["b"]), float(data["B"]), float(data["a"]),
                                       float(data["A"]), seq, "binance", "BINANCE")
                elif stream.endswith("@trade"):
                    seq += 1
                    rec = trade_record(sym, recv_ns, recv_ns, float(data["p"]), float(data["q"]), int(data["t"]),
                                       seq, "binance", "BINANCE")
                    rec.value["payload"]["vt"] = int(data["T"])  # venue trade time (ms), another clock
                    yield rec
                elif data.get("e") == "depthUpdate" and last_update is not None:
                    if int(data["u"]) <= last_update:
                        continue  # already in the snapshot
                    _apply_levels(bids, data["b"])
                    _apply_levels(asks, data["a"])
                    last_update = int(data["u"])
                    top_bids, top_asks = _top(bids, True, depth), _top(asks, False, depth)
                    if top_bids and top_asks and top_bids[0]["price"] < top_asks[0]["price"]:
                        seq += 1
                        yield FeedRecord(BOOK, sym, recv_ns, {
                            "symbol": sym, "event_ts": format_ts_ns(recv_ns), "venue": "binance",
                            "sequence": last_update, "bids": top_bids, "asks": top_asks})
