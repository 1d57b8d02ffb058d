"""Price-time FIFO limit order book in integer ticks, with own orders and their queue positions."""

from simulator.book.core import (
    ASK,
    BID,
    BookState,
    add_limit,
    best_ask,
    best_bid,
    cancel,
    check_invariants,
    depth,
    execute_market,
    new_book,
    reduce,
    volume_ahead,
)
from simulator.book.reference import ReferenceBook
from simulator.book.snapshot import BookSnapshot, snapshot

__all__ = [
    "ASK",
    "BID",
    "BookSnapshot",
    "BookState",
    "ReferenceBook",
    "add_limit",
    "best_ask",
    "best_bid",
    "cancel",
    "check_invariants",
    "depth",
    "execute_market",
    "new_book",
    "reduce",
    "snapshot",
    "volume_ahead",
]
