"""Array-backed price-time FIFO book, compiled with numba for the market model's hot loop.

Why arrays and not objects: the Monte Carlo runs millions of book events per second inside one
``@njit`` loop, and numba handles flat arrays (bundled in a NamedTuple) without boxing. Every
order is a slot in a pool; each price level is a doubly linked FIFO list through that pool, so
cancellation by id is O(1) and a market order pops queue heads in time priority. Queue position
of an own order is therefore exact: it fills only once every order ahead of it at its price has
been executed or cancelled.

Prices are integer ticks. Levels live in a window of ``W`` ticks starting at ``base``; the window
is re-centred when the touch drifts near an edge (orders that fall out are dropped, which only
touches levels hundreds of ticks from the touch). Side 0 is the bid, side 1 the ask.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

BID = 0
ASK = 1

# Slots of the ``meta`` int64 vector: scalars that the jitted code must mutate in place.
M_BASE = 0  # absolute tick of window index 0
M_BEST_BID = 1  # window index of best bid, -1 when the bid side is empty
M_BEST_ASK = 2  # window index of best ask, W when the ask side is empty
M_FREE_TOP = 3  # number of free order slots on the free stack
M_NLIST_BID = 4  # number of non-own live bid orders (the cancellable population)
M_NLIST_ASK = 5
M_NFILLS = 6  # own-order fills recorded since the caller last drained them
M_DROPPED = 7  # orders dropped by re-centring (diagnostic)
M_REJECTED = 8  # adds refused (pool full, outside window, or would cross)
M_NOTIONAL = 9  # price*shares (ticks) of the last execute_market call, for aggressive fill prices
M_HWM = 10  # high-water mark: 1 + the largest order slot ever handed out (bounds the reset work)
M_SIZE = 11

NO_ORDER = -1

# Why ``_nrt=False``: these functions never allocate, and without it every call between compiled
# functions increfs and decrefs each of the book's arrays (atomics, ~300 ns per call for 15
# arrays, measured), which would cost more than the book operation itself.
_NO_REFCOUNT: dict[str, Any] = {"_nrt": False}  # private numba option, hence passed untyped
hot: Any = nb.njit(cache=True, **_NO_REFCOUNT)


class BookState(NamedTuple):
    """All book memory. Build with :func:`new_book`; mutate only through the jitted functions."""

    lvl_head: NDArray[np.int64]  # (2, W) first order id at level, -1 if empty
    lvl_tail: NDArray[np.int64]  # (2, W)
    lvl_vol: NDArray[np.int64]  # (2, W) shares resting at level
    lvl_n: NDArray[np.int64]  # (2, W) orders resting at level
    o_price: NDArray[np.int64]  # (C,) absolute tick
    o_size: NDArray[np.int64]  # (C,) remaining shares, 0 when dead
    o_side: NDArray[np.int64]  # (C,) 0/1, -1 when free
    o_next: NDArray[np.int64]  # (C,) next order in level FIFO
    o_prev: NDArray[np.int64]  # (C,)
    o_own: NDArray[np.int64]  # (C,) 1 for our own (execution) orders
    o_slot: NDArray[np.int64]  # (C,) index in side_list, -1 for own orders
    free_stack: NDArray[np.int64]  # (C,)
    side_list: NDArray[np.int64]  # (2, C) live non-own order ids per side, unordered
    fills: NDArray[np.int64]  # (F, 3) own fills: order id, price tick, shares
    meta: NDArray[np.int64]  # (M_SIZE,)


def new_book(base_tick: int, window: int = 4096, capacity: int = 1 << 16, fill_capacity: int = 4096
             ) -> BookState:
    """An empty book whose window starts at ``base_tick``; ``window`` ticks wide, ``capacity`` orders."""
    b = BookState(
        lvl_head=np.full((2, window), NO_ORDER, np.int64),
        lvl_tail=np.full((2, window), NO_ORDER, np.int64),
        lvl_vol=np.zeros((2, window), np.int64),
        lvl_n=np.zeros((2, window), np.int64),
        o_price=np.zeros(capacity, np.int64),
        o_size=np.zeros(capacity, np.int64),
        o_side=np.full(capacity, -1, np.int64),
        o_next=np.full(capacity, NO_ORDER, np.int64),
        o_prev=np.full(capacity, NO_ORDER, np.int64),
        o_own=np.zeros(capacity, np.int64),
        o_slot=np.full(capacity, -1, np.int64),
        free_stack=np.arange(capacity - 1, -1, -1, dtype=np.int64),
        side_list=np.zeros((2, capacity), np.int64),
        fills=np.zeros((fill_capacity, 3), np.int64),
        meta=np.zeros(M_SIZE, np.int64),
    )
    b.meta[M_BASE] = base_tick
    b.meta[M_BEST_BID] = -1
    b.meta[M_BEST_ASK] = window
    b.meta[M_FREE_TOP] = capacity
    return b


@hot
def best_bid(b: BookState) -> int:
    """Best bid tick, or a very negative sentinel when the side is empty."""
    i = b.meta[M_BEST_BID]
    if i < 0:
        return -(1 << 60)
    return int(b.meta[M_BASE] + i)


@hot
def best_ask(b: BookState) -> int:
    """Best ask tick, or a very large sentinel when the side is empty."""
    i = b.meta[M_BEST_ASK]
    if i >= b.lvl_head.shape[1]:
        return 1 << 60
    return int(b.meta[M_BASE] + i)


@hot
def side_volume_at(b: BookState, side: int, price: int) -> int:
    i = price - b.meta[M_BASE]
    if i < 0 or i >= b.lvl_head.shape[1]:
        return 0
    return int(b.lvl_vol[side, i])


@hot
def _scan_best(b: BookState, side: int, start: int) -> None:
    """Move the best pointer of ``side`` from window index ``start`` away from the spread."""
    w = b.lvl_head.shape[1]
    i = start
    if side == BID:
        while i >= 0 and b.lvl_n[BID, i] == 0:
            i -= 1
        b.meta[M_BEST_BID] = i
    else:
        while i < w and b.lvl_n[ASK, i] == 0:
            i += 1
        b.meta[M_BEST_ASK] = i


@hot
def add_limit(b: BookState, side: int, price: int, size: int, own: int) -> int:
    """Rest ``size`` shares at ``price`` at the back of its queue; returns the order id or -1.

    A limit order that would cross is refused rather than matched: the market model never sends
    one (it chooses prices relative to the touch) and the execution layer sends marketable
    orders through :func:`execute_market`, so a crossing add can only be a caller bug.
    """
    w = b.lvl_head.shape[1]
    i = price - b.meta[M_BASE]
    if size <= 0 or i < 0 or i >= w or b.meta[M_FREE_TOP] == 0:
        b.meta[M_REJECTED] += 1
        return NO_ORDER
    if (side == BID and i >= b.meta[M_BEST_ASK]) or (side == ASK and i <= b.meta[M_BEST_BID]):
        b.meta[M_REJECTED] += 1
        return NO_ORDER
    b.meta[M_FREE_TOP] -= 1
    oid = b.free_stack[b.meta[M_FREE_TOP]]
    if oid >= b.meta[M_HWM]:
        b.meta[M_HWM] = oid + 1
    b.o_price[oid] = price
    b.o_size[oid] = size
    b.o_side[oid] = side
    b.o_own[oid] = own
    b.o_next[oid] = NO_ORDER
    tail = b.lvl_tail[side, i]
    b.o_prev[oid] = tail
    if tail == NO_ORDER:
        b.lvl_head[side, i] = oid
    else:
        b.o_next[tail] = oid
    b.lvl_tail[side, i] = oid
    b.lvl_vol[side, i] += size
    b.lvl_n[side, i] += 1
    if own == 0:
        k = b.meta[M_NLIST_BID + side]
        b.side_list[side, k] = oid
        b.o_slot[oid] = k
        b.meta[M_NLIST_BID + side] = k + 1
    else:
        b.o_slot[oid] = -1
    if side == BID:
        if i > b.meta[M_BEST_BID]:
            b.meta[M_BEST_BID] = i
    elif i < b.meta[M_BEST_ASK]:
        b.meta[M_BEST_ASK] = i
    return int(oid)


@hot
def _unlink(b: BookState, oid: int) -> None:
    """Take a (possibly partially filled) order out of its level and return its slot to the pool."""
    side = b.o_side[oid]
    i = b.o_price[oid] - b.meta[M_BASE]
    prv = b.o_prev[oid]
    nxt = b.o_next[oid]
    if prv == NO_ORDER:
        b.lvl_head[side, i] = nxt
    else:
        b.o_next[prv] = nxt
    if nxt == NO_ORDER:
        b.lvl_tail[side, i] = prv
    else:
        b.o_prev[nxt] = prv
    b.lvl_vol[side, i] -= b.o_size[oid]
    b.lvl_n[side, i] -= 1
    slot = b.o_slot[oid]
    if slot >= 0:
        last = b.meta[M_NLIST_BID + side] - 1
        moved = b.side_list[side, last]
        b.side_list[side, slot] = moved
        b.o_slot[moved] = slot
        b.meta[M_NLIST_BID + side] = last
    b.o_size[oid] = 0
    b.o_side[oid] = -1
    b.o_slot[oid] = -1
    b.free_stack[b.meta[M_FREE_TOP]] = oid
    b.meta[M_FREE_TOP] += 1
    if b.lvl_n[side, i] == 0:
        if side == BID and i == b.meta[M_BEST_BID]:
            _scan_best(b, BID, i)
        elif side == ASK and i == b.meta[M_BEST_ASK]:
            _scan_best(b, ASK, i)


@hot
def cancel(b: BookState, oid: int) -> int:
    """Delete order ``oid``; returns the shares removed (0 if it was already gone)."""
    if oid < 0 or oid >= b.o_size.shape[0] or b.o_side[oid] < 0:
        return 0
    size = b.o_size[oid]
    _unlink(b, oid)
    return int(size)


@hot
def reduce(b: BookState, oid: int, shares: int) -> int:
    """Partial cancel: shrink an order in place (it keeps its queue position); returns shares removed."""
    if oid < 0 or oid >= b.o_size.shape[0] or b.o_side[oid] < 0 or shares <= 0:
        return 0
    if shares >= b.o_size[oid]:
        return cancel(b, oid)
    b.o_size[oid] -= shares
    b.lvl_vol[b.o_side[oid], b.o_price[oid] - b.meta[M_BASE]] -= shares
    return int(shares)


@hot
def execute_market(b: BookState, aggressor_side: int, size: int, limit_price: int) -> int:
    """Match an aggressive order against the opposite side in price-time priority.

    ``aggressor_side`` 0 = buy (lifts asks), 1 = sell (hits bids). Matching stops at
    ``limit_price`` (inclusive) or when ``size`` is done or the side is empty; the remainder is
    not rested (IOC), which is how both market orders and marketable child orders behave here.
    Fills of own resting orders are appended to ``b.fills`` for the caller to drain; the
    aggressor's notional (ticks x shares) is left in ``meta[M_NOTIONAL]``. Returns shares executed.
    """
    w = b.lvl_head.shape[1]
    base = b.meta[M_BASE]
    remaining = size
    b.meta[M_NOTIONAL] = 0
    if aggressor_side == BID:
        while remaining > 0:
            i = b.meta[M_BEST_ASK]
            if i >= w or base + i > limit_price:
                break
            remaining = _consume_level(b, ASK, i, remaining)
    else:
        while remaining > 0:
            i = b.meta[M_BEST_BID]
            if i < 0 or base + i < limit_price:
                break
            remaining = _consume_level(b, BID, i, remaining)
    return int(size - remaining)


@hot
def _consume_level(b: BookState, side: int, i: int, remaining: int) -> int:
    price = b.meta[M_BASE] + i
    while remaining > 0 and b.lvl_head[side, i] != NO_ORDER:
        oid = b.lvl_head[side, i]
        q = b.o_size[oid]
        take = q if q <= remaining else remaining
        if b.o_own[oid] == 1:
            k = b.meta[M_NFILLS]
            if k < b.fills.shape[0]:
                b.fills[k, 0] = oid
                b.fills[k, 1] = price
                b.fills[k, 2] = take
                b.meta[M_NFILLS] = k + 1
        remaining -= take
        b.meta[M_NOTIONAL] += take * price
        if take == q:
            _unlink(b, oid)  # also advances the best pointer when the level empties
        else:
            b.o_size[oid] = q - take
            b.lvl_vol[side, i] -= take
    return remaining


@hot
def volume_ahead(b: BookState, oid: int) -> int:
    """Shares with time priority over ``oid`` at its price: what must trade or cancel before it fills."""
    if oid < 0 or b.o_side[oid] < 0:
        return -1
    ahead = 0
    cur = b.o_prev[oid]
    while cur != NO_ORDER:
        ahead += b.o_size[cur]
        cur = b.o_prev[cur]
    return ahead


@hot
def depth(b: BookState, side: int, n_levels: int, out: NDArray[np.int64]) -> int:
    """Write up to ``n_levels`` non-empty levels from the touch as (price, shares) rows into ``out``."""
    w = b.lvl_head.shape[1]
    base = b.meta[M_BASE]
    k = 0
    if side == BID:
        i = b.meta[M_BEST_BID]
        while i >= 0 and k < n_levels:
            if b.lvl_n[BID, i] > 0:
                out[k, 0] = base + i
                out[k, 1] = b.lvl_vol[BID, i]
                k += 1
            i -= 1
    else:
        i = b.meta[M_BEST_ASK]
        while i < w and k < n_levels:
            if b.lvl_n[ASK, i] > 0:
                out[k, 0] = base + i
                out[k, 1] = b.lvl_vol[ASK, i]
                k += 1
            i += 1
    return k


@hot
def recenter(b: BookState, center_tick: int) -> None:
    """Slide the window so ``center_tick`` sits in its middle, dropping orders that fall outside.

    Why dropping is acceptable: re-centring happens only when the touch has drifted a quarter of
    the window (about a thousand ticks by default), and only orders that far from the touch are
    lost; they never interact with the simulated flow, which acts within a few dozen ticks.
    """
    w = b.lvl_head.shape[1]
    shift = (center_tick - w // 2) - b.meta[M_BASE]
    if shift == 0:
        return
    # Drop out-of-window orders first, with indices still in the old frame.
    for side in range(2):
        for i in range(w):
            j = i - shift
            if (j < 0 or j >= w) and b.lvl_n[side, i] > 0:
                oid = b.lvl_head[side, i]
                while oid != NO_ORDER:
                    nxt = b.o_next[oid]
                    b.meta[M_DROPPED] += 1
                    _unlink(b, oid)
                    oid = nxt
    for side in range(2):
        if shift > 0:
            for i in range(w):
                src = i + shift
                if src < w:
                    b.lvl_head[side, i] = b.lvl_head[side, src]
                    b.lvl_tail[side, i] = b.lvl_tail[side, src]
                    b.lvl_vol[side, i] = b.lvl_vol[side, src]
                    b.lvl_n[side, i] = b.lvl_n[side, src]
                else:
                    b.lvl_head[side, i] = NO_ORDER
                    b.lvl_tail[side, i] = NO_ORDER
                    b.lvl_vol[side, i] = 0
                    b.lvl_n[side, i] = 0
        else:
            for i in range(w - 1, -1, -1):
                src = i + shift
                if src >= 0:
                    b.lvl_head[side, i] = b.lvl_head[side, src]
                    b.lvl_tail[side, i] = b.lvl_tail[side, src]
                    b.lvl_vol[side, i] = b.lvl_vol[side, src]
                    b.lvl_n[side, i] = b.lvl_n[side, src]
                else:
                    b.lvl_head[side, i] = NO_ORDER
                    b.lvl_tail[side, i] = NO_ORDER
                    b.lvl_vol[side, i] = 0
                    b.lvl_n[side, i] = 0
    b.meta[M_BASE] += shift
    _scan_best(b, BID, max(min(b.meta[M_BEST_BID] - shift, w - 1), -1))
    _scan_best(b, ASK, min(max(b.meta[M_BEST_ASK] - shift, 0), w))


@hot
def maybe_recenter(b: BookState) -> bool:
    """Re-centre when either touch is within a quarter window of an edge; True if it moved."""
    w = b.lvl_head.shape[1]
    margin = w // 4
    bb = b.meta[M_BEST_BID]
    ba = b.meta[M_BEST_ASK]
    lo = bb if bb >= 0 else ba
    hi = ba if ba < w else bb
    if lo < 0 or hi >= w:
        return False  # both sides empty: nothing to centre on
    if lo < margin or hi > w - margin:
        recenter(b, b.meta[M_BASE] + (lo + hi) // 2)
        return True
    return False


@hot
def check_invariants(b: BookState) -> int:
    """0 if the book is consistent, else a code naming the first broken invariant.

    Used by the property test and the 10-million-event benchmark: never crossed, no negative or
    zero-size resting order, level aggregates equal to the sum of their FIFO lists, and the best
    pointers really pointing at the best non-empty levels.
    """
    w = b.lvl_head.shape[1]
    bb = b.meta[M_BEST_BID]
    ba = b.meta[M_BEST_ASK]
    if bb >= 0 and ba < w and bb >= ba:
        return 1  # crossed or locked
    live = 0
    for side in range(2):
        for i in range(w):
            vol = 0
            n = 0
            oid = b.lvl_head[side, i]
            prev = NO_ORDER
            while oid != NO_ORDER:
                if b.o_size[oid] <= 0:
                    return 2  # dead or negative order in a queue
                if b.o_side[oid] != side or b.o_price[oid] != b.meta[M_BASE] + i:
                    return 3
                if b.o_prev[oid] != prev:
                    return 4
                vol += b.o_size[oid]
                n += 1
                prev = oid
                oid = b.o_next[oid]
            if b.lvl_tail[side, i] != prev:
                return 4
            if vol != b.lvl_vol[side, i] or n != b.lvl_n[side, i] or vol < 0:
                return 5
            live += n
            if n > 0:
                if side == BID and i > bb:
                    return 6
                if side == ASK and i < ba:
                    return 6
        if side == BID and bb >= 0 and b.lvl_n[BID, bb] == 0:
            return 6
        if side == ASK and ba < w and b.lvl_n[ASK, ba] == 0:
            return 6
    if live + b.meta[M_FREE_TOP] != b.o_size.shape[0]:
        return 7  # leaked or double-freed slots
    return 0


@hot
def reset_book(b: BookState, base_tick: int) -> None:
    """Return a used book to the exact state :func:`new_book` builds, without reallocating.

    Why: Monte Carlo paths each need a fresh book, and allocating megabytes per path would cost
    more than simulating it; resetting in place keeps slot ids (and so every outcome) identical
    to a freshly built book.
    """
    w = b.lvl_head.shape[1]
    c = b.o_size.shape[0]
    for side in range(2):
        for i in range(w):
            b.lvl_head[side, i] = NO_ORDER
            b.lvl_tail[side, i] = NO_ORDER
            b.lvl_vol[side, i] = 0
            b.lvl_n[side, i] = 0
    # Slots are handed out lowest first, so only slots below the high-water mark were ever
    # written, and only the top ``hwm`` positions of the free stack can differ from a new book.
    hwm = b.meta[M_HWM]
    for k in range(hwm):
        b.o_price[k] = 0
        b.o_size[k] = 0
        b.o_side[k] = -1
        b.o_next[k] = NO_ORDER
        b.o_prev[k] = NO_ORDER
        b.o_own[k] = 0
        b.o_slot[k] = -1
        b.side_list[0, k] = 0
        b.side_list[1, k] = 0
    for k in range(c - hwm, c):
        b.free_stack[k] = c - 1 - k
    for k in range(b.meta.shape[0]):
        b.meta[k] = 0
    b.meta[M_BASE] = base_tick
    b.meta[M_BEST_BID] = -1
    b.meta[M_BEST_ASK] = w
    b.meta[M_FREE_TOP] = c
