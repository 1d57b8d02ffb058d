"""Price-time FIFO limit order book in integer ticks, with own orders and their queue positions."""

from simulator.book._cache_guard import ensure_fresh_caches

ensure_fresh_caches()  # before any compiled book function can load a stale cache


from simulator.book.core import (  # noqa: E402
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
from simulator.book.reference import ReferenceBook  # noqa: E402
from simulator.book.snapshot import BookSnapshot, snapshot  # noqa: E402

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
