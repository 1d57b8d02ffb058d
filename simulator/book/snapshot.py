"""Immutable snapshots of the compiled book, for tests, reports and the state features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.book.core import ASK, BID, BookState, best_ask, best_bid, depth


@dataclass(frozen=True)
class BookSnapshot:
    """Touch and top-``n`` depth; prices in ticks, ``None`` for an empty side."""

    best_bid: int | None
    best_ask: int | None
    bids: tuple[tuple[int, int], ...]  # (price tick, shares), best first
    asks: tuple[tuple[int, int], ...]

    @property
    def spread(self) -> int | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def mid(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return 0.5 * (self.best_bid + self.best_ask)


def snapshot(b: BookState, n_levels: int = 5) -> BookSnapshot:
    out = np.zeros((n_levels, 2), np.int64)
    k_bid = depth(b, BID, n_levels, out)
    bids = tuple((int(p), int(v)) for p, v in out[:k_bid])
    k_ask = depth(b, ASK, n_levels, out)
    asks = tuple((int(p), int(v)) for p, v in out[:k_ask])
    bb = int(best_bid(b))
    ba = int(best_ask(b))
    return BookSnapshot(bb if bids else None, ba if asks else None, bids, asks)
