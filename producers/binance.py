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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


PRESCAN_LINES = 20_000  # enough to meet every stream a recording carries (bookTicker comes many times a second)


def text_opener(path: Path) -> Callable[..., Any]:
    """gzip by content, not by name: collectors write ``.gz``, ``.dat`` and plain text alike."""
    with path.open("rb") as fh:
        return gzip.open if fh.read(2) == b"\x1f\x8b" else open


def receive_ns(raw: str, where: str) -> int:
    """The recorder's receive time in ns, whatever unit it was written in: hftbacktest's collectors
    write ns (19 digits), older ones microseconds (16) or ms (13); read as ns, a microsecond stamp
    would put the recording in January 1970 and squeeze its event times a thousandfold."""
    try:
        v = int(raw)
    except ValueError as exc:
        raise BinanceFormatError(f"{where}: the receive time {raw!r} is not an integer") from exc
    if v >= 10**17:
        return v
    if v >= 10**14:
        return v * 1_000
    if v >= 10**11:
        return v * 1_000_000
    raise BinanceFormatError(f"{where}: the receive time {raw!r} is not epoch ns, us or ms")


def _streams(paths: list[Path]) -> set[str]:
    """The stream kinds (``bookTicker``, ``trade``, ``aggTrade``, ``depth``) the recording's first lines carry."""
    seen: set[str] = set()
    for path in paths:
        with text_opener(path)(path, "rt") as fh:
            for k, line in enumerate(fh):
                if k >= PRESCAN_LINES:
                    return seen
                for kind in ("bookTicker", "aggTrade", "trade", "depth"):
                    if f'@{kind}"' in line or f'@{kind}@' in line:
                        seen.add(kind)
                        break
    return seen


@dataclass
class _Book:
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    last_update: int | None = None
    last_touch: tuple[float, float, float, float] | None = None  # the last quote derived from it


def binance_records(paths: list[Path], *, symbol: str | None = None, depth: int = 5,
                    limit: int | None = None) -> Iterator[FeedRecord]:
    """Quotes, trades and L2 books of a recording, in file order.

    What the recording carries decides the mapping (read off its first lines): quotes come from
    ``bookTicker``, or, for a depth-and-trades recording (the futures collectors record no
    ticker), from the rebuilt book's touch each time it changes; trades from ``trade``, or from
    ``aggTrade`` when that is the only trade stream (both would count every trade twice). Each
    symbol keeps its own book; a REST snapshot (which names no symbol) starts the book of the
    symbol whose depth update follows it."""
    streams = _streams(paths)
    quotes_from_depth = "bookTicker" not in streams
    trade_stream = "@trade" if "trade" in streams or "aggTrade" not in streams else "@aggTrade"
    books: dict[str, _Book] = {}
    snapshot: _Book | None = None
    seq = 0
    for path in paths:
        with text_opener(path)(path, "rt") as lines:
            for line_no, line in enumerate(lines, start=1):
                if limit is not None and seq >= limit:
                    return
                if not line.strip():
                    continue
                recv, _, body = line.partition(" ")
                where = f"{path.name}:{line_no}"
                recv_ns = receive_ns(recv, where)
                try:
                    doc = json.loads(body)
                except ValueError as exc:
                    raise BinanceFormatError(f"{where}: {exc}") from exc
                if "lastUpdateId" in doc:  # REST snapshot: the next depth update's symbol starts here
                    snapshot = _Book({float(p): float(q) for p, q in doc["bids"] if float(q) > 0},
                                     {float(p): float(q) for p, q in doc["asks"] if float(q) > 0},
                                     int(doc["lastUpdateId"]))
                    continue
                data = doc.get("data", {})
                stream = doc.get("stream", "")
                sym = symbol or data.get("s", "UNKNOWN")
                if stream.endswith("@bookTicker"):
                    seq += 1
                    yield quote_record(sym, recv_ns, recv_ns, float(data["b"]), float(data["B"]), float(data["a"]),
                                       float(data["A"]), seq, "binance", "BINANCE")
                elif stream.endswith(trade_stream):
                    seq += 1
                    trade_id = int(data["t"] if trade_stream == "@trade" else data["a"])
                    rec = trade_record(sym, recv_ns, recv_ns, float(data["p"]), float(data["q"]), trade_id,
                                       seq, "binance", "BINANCE")
                    rec.value["payload"]["vt"] = int(data["T"])  # venue trade time (ms), another clock
                    yield rec
                elif data.get("e") == "depthUpdate":
                    if snapshot is not None:
                        books[sym], snapshot = snapshot, None
                    book = books.get(sym)
                    if book is None or book.last_update is None:
                        continue  # no snapshot yet: the diffs cannot be applied
                    if int(data["u"]) <= book.last_update:
                        continue  # already in the snapshot
                    _apply_levels(book.bids, data["b"])
                    _apply_levels(book.asks, data["a"])
                    book.last_update = int(data["u"])
                    top_bids, top_asks = _top(book.bids, True, depth), _top(book.asks, False, depth)
                    if top_bids and top_asks and top_bids[0]["price"] < top_asks[0]["price"]:
                        seq += 1
                        yield FeedRecord(BOOK, sym, recv_ns, {
                            "symbol": sym, "event_ts": format_ts_ns(recv_ns), "venue": "binance",
                            "sequence": book.last_update, "bids": top_bids, "asks": top_asks})
                        touch = (top_bids[0]["price"], top_bids[0]["size"], top_asks[0]["price"], top_asks[0]["size"])
                        if quotes_from_depth and touch != book.last_touch:
                            book.last_touch = touch
                            seq += 1
                            yield quote_record(sym, recv_ns, recv_ns, touch[0], touch[1], touch[2], touch[3], seq,
                                               "binance", "BINANCE")
