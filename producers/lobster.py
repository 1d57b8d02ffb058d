"""LOBSTER message + order book files -> Torghut quotes and trades.

LOBSTER times are seconds after midnight, exchange local time (New York); the date is in the file
name. A quote is emitted when the top of book changes (price or size), as a consolidated quote
feed would; executions (types 4 and 5) become trades. Prices are dollars x 10,000.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from producers.records import FeedRecord, quote_record, trade_record

_NAME = re.compile(r"(?P<symbol>[A-Z.]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_message_(?P<level>\d+)")
NEW_YORK = ZoneInfo("America/New_York")


class LobsterFormatError(ValueError):
    pass


def orderbook_path_for(message_path: Path) -> Path:
    return message_path.with_name(message_path.name.replace("_message_", "_orderbook_"))


def lobster_records(message_path: Path, *, symbol: str | None = None, limit: int | None = None) -> Iterator[FeedRecord]:
    match = _NAME.search(message_path.name)
    if not match:
        raise LobsterFormatError(f"{message_path.name}: not a LOBSTER message file name "
                                 "(SYMBOL_YYYY-MM-DD_start_end_message_LEVEL.csv)")
    book_path = orderbook_path_for(message_path)
    if not book_path.exists():
        raise LobsterFormatError(f"missing order book file {book_path.name} beside {message_path.name}")
    sym = symbol or match["symbol"]
    midnight = datetime.fromisoformat(match["date"]).replace(tzinfo=NEW_YORK)
    midnight_ns = int(midnight.timestamp()) * 1_000_000_000
    last_top: tuple[str, ...] | None = None
    seq = 0
    with message_path.open(newline="") as messages, book_path.open(newline="") as books:
        for line_no, (msg, book) in enumerate(zip(csv.reader(messages), csv.reader(books), strict=True), start=1):
            if limit is not None and seq >= limit:
                return
            if len(msg) < 6 or len(book) < 4:
                raise LobsterFormatError(f"{message_path.name}:{line_no}: expected 6 message and >= 4 book columns")
            seconds, whole_ns = msg[0].split(".") if "." in msg[0] else (msg[0], "0")
            ts_ns = midnight_ns + int(seconds) * 1_000_000_000 + int(whole_ns.ljust(9, "0")[:9])
            kind, price, size = int(msg[1]), int(msg[4]), int(msg[3])
            if kind in (4, 5) and size > 0:
                seq += 1
                yield trade_record(sym, ts_ns, ts_ns, price / 10_000, float(size), int(msg[2]) or seq, seq,
                                   "lobster", "Q")
            ask, ask_size, bid, bid_size = book[0], book[1], book[2], book[3]
            top = (ask, ask_size, bid, bid_size)
            valid = int(bid_size) > 0 and int(ask_size) > 0 and 0 < int(bid) < int(ask) < 9_999_999_999
            if top != last_top and valid:
                seq += 1
                yield quote_record(sym, ts_ns, ts_ns, int(bid) / 10_000, float(bid_size), int(ask) / 10_000,
                                   float(ask_size), seq, "lobster", "Q")
            last_top = top
