"""Where the market's cancels land and which touch its placements read, with our orders in the book.

Split from :mod:`simulator.market.engine` (which explains the rules and why the market's view is
the default); these are the compiled helpers the rules use. ``market_touch`` and the market-view
cancel only differ from the full-book versions when our own orders rest: without them, every
function here returns exactly what the legacy rule returns, so market-only paths do not change.
"""

from __future__ import annotations

from simulator.book.core import ASK, BID, M_BASE, M_BEST_ASK, M_BEST_BID, NO_ORDER, BookState, best_ask, best_bid, hot


@hot
def market_touch(b: BookState, side: int) -> int:
    """Best price of *other* participants' orders on ``side`` (ticks): the touch the market's own
    placements are anchored to when our orders are queue-reactive. Our children stand in for
    liquidity that was already in the calibrated flow, so a child left alone at a price (or posted
    on a feed that was milliseconds stale, i.e. inside the spread) must not become the anchor of
    everyone else's placements. Falls back to the full touch when only our orders rest."""
    w = b.lvl_head.shape[1]
    i = b.meta[M_BEST_BID] if side == BID else b.meta[M_BEST_ASK]
    step = -1 if side == BID else 1
    while 0 <= i < w:
        oid = b.lvl_head[side, i]
        while oid != NO_ORDER:
            if b.o_own[oid] == 0:
                return int(b.meta[M_BASE] + i)
            oid = b.o_next[oid]
        i += step
    return best_bid(b) if side == BID else best_ask(b)


@hot
def _others_at(b: BookState, side: int, i: int) -> int:
    """Number of other participants' orders at window level ``i`` (our orders are few: a short walk)."""
    n = 0
    oid = b.lvl_head[side, i]
    while oid != NO_ORDER:
        if b.o_own[oid] == 0:
            n += 1
        oid = b.o_next[oid]
    return n


@hot
def _nth_order(b: BookState, side: int, i: int, j: int, n: int) -> int:
    """The ``j``-th of the ``n`` orders at window level ``i`` (queue order), walked from whichever end
    of the level is nearer: both cancel rules pick their victim this way."""
    if j < n // 2 + 1:
        oid = b.lvl_head[side, i]
        for _ in range(j):
            oid = b.o_next[oid]
    else:
        oid = b.lvl_tail[side, i]
        for _ in range(n - 1 - j):
            oid = b.o_prev[oid]
    return int(oid)


@hot
def pick_cancel_market(b: BookState, side: int, off: int, u: float) -> int:
    """A cancel as the market would make it without us: ``off`` ticks behind the *others'* touch
    (falling back towards it past levels with no other orders), at a uniformly random position
    among the other orders there. Without own orders this picks exactly what the legacy rule picks."""
    w = b.lvl_head.shape[1]
    if (side == BID and b.meta[M_BEST_BID] < 0) or (side == ASK and b.meta[M_BEST_ASK] >= w):
        return -1
    best = market_touch(b, side) - b.meta[M_BASE]
    if side == BID:
        i = max(best - off, 0)
        while i < best and b.lvl_n[BID, i] == 0:
            i += 1
        while i < best and _others_at(b, BID, i) == 0:
            i += 1
    else:
        i = min(best + off, w - 1)
        while i > best and b.lvl_n[ASK, i] == 0:
            i -= 1
        while i > best and _others_at(b, ASK, i) == 0:
            i -= 1
    n = b.lvl_n[side, i]
    m = _others_at(b, side, i) if n > 0 else 0
    if m == 0:
        return -1
    j = int(u * m)
    if m == n:  # no own order here: walk from the nearer end, as the legacy rule does
        return _nth_order(b, side, i, j, n)
    oid = b.lvl_head[side, i]
    k = 0
    while oid != NO_ORDER:
        if b.o_own[oid] == 0:
            if k == j:
                return int(oid)
            k += 1
        oid = b.o_next[oid]
    return -1


@hot
def pick_cancel(b: BookState, side: int, off: int, u: float, reach_own: bool) -> int:
    """Legacy rule: an order ``off`` ticks behind the touch (ours included in the touch), at a
    uniformly random queue position; own orders skipped unless ``reach_own``; -1 if nothing."""
    w = b.lvl_head.shape[1]
    if side == BID:
        best = b.meta[M_BEST_BID]
        if best < 0:
            return -1
        i = best - off
        if i < 0:
            i = 0
        while i < best and b.lvl_n[BID, i] == 0:
            i += 1
    else:
        best = b.meta[M_BEST_ASK]
        if best >= w:
            return -1
        i = best + off
        if i > w - 1:
            i = w - 1
        while i > best and b.lvl_n[ASK, i] == 0:
            i -= 1
    n = b.lvl_n[side, i]
    if n == 0:
        return -1
    j = int(u * n)
    # Walk from whichever end is nearer; skip own orders forward (towards the tail), wrapping once.
    oid = _nth_order(b, side, i, j, n)
    if reach_own:
        return int(oid)
    for _ in range(n):
        if b.o_own[oid] == 0:
            return int(oid)
        oid = b.o_next[oid]
        if oid == NO_ORDER:
            oid = b.lvl_head[side, i]
    return -1
