"""Compiled rules that turn one Hawkes event into one book operation, and the fused market loop.

The placement rules are where a Hawkes model meets a real book, and they are chosen so the book
stays valid by construction rather than by clean-up:

* limit prices are set relative to the *current* touch (at it, strictly inside the spread, or a
  sampled number of ticks behind it), so a limit order can never cross;
* an inside-spread limit improves its own touch by a calibrated number of ticks (at most to one
  tick short of the other touch); arriving when the spread is one tick it has no price to go to
  and is dropped (counted, so the report can say how often);
* a cancel goes to a level drawn from the calibrated distribution of cancel distance behind the
  touch (falling back towards the touch past empty levels), and there removes an order at a
  uniformly random queue position: so it never hits an empty queue, depletes the touch as often
  as real cancels do (which is what keeps queues finite), and advances an own order's queue
  position exactly when it removes an order ahead of it; with nothing cancellable it is a
  counted no-op;
* our resting orders (``cfg[2]``, ``MarketModel.own_order_rule``): by default the market's cancels
  and placements act on the *other* participants' orders (``OWN_MARKET_VIEW``): the cancel's level
  is measured from the others' touch and its victim drawn among the others' orders there, and a
  limit order is placed relative to the others' touches (if one of our children rests where that
  price crosses, the order trades with it, as a marketable limit would on a venue, and any rest
  rests). Our children keep exact queue positions and fill when orders reach them, but they
  neither absorb cancels meant for others, nor anchor or block the others' placements. Why:
  measured with ``simulator.execution.bias`` on the AMZN calibration, a resting passive parent
  moved the mid by ~7 bps over five minutes when cancels skipped our orders (a lone child held
  its level against every cancel and others' improvers stepped up from it), and by ~10 bps when
  cancels could also pull our children at their queue position (``OWN_REACHABLE``: each pull
  spared another participant's order, so levels with our children lasted longer); with the
  market's view it is about 0.5 bps. Without own orders the three rules make identical draws
  and paths;
* a market order larger than the opposite side empties it; any empty side is then refilled
  ``init_levels`` deep, ``init_spread_ticks`` away from the other touch, levels spaced by the
  calibrated level-gap table (counted).

Hawkes timing comes from ``simulator.hawkes.simulate.hawkes_next_event``: the order flow is
exogenous to the book (as in the reference paper), so the same kernel drives this loop and the
execution loop that interleaves our child orders.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from simulator.book.core import (
    _NO_REFCOUNT,
    ASK,
    BID,
    M_BEST_ASK,
    M_BEST_BID,
    M_NLIST_BID,
    BookState,
    add_limit,
    best_ask,
    best_bid,
    cancel,
    check_invariants,
    execute_market,
    hot,
    maybe_recenter,
)
from simulator.hawkes.simulate import hawkes_excite, hawkes_next_event
from simulator.market.cancels import market_touch, pick_cancel, pick_cancel_market
from simulator.market.model import Tables

# Counters in the ``stats`` int64 vector the loops fill (diagnostics, reported, never decisions).
S_EVENTS = 0
S_REFILLS = 1
S_INSIDE_DROPPED = 2  # inside-spread events dropped: no price inside a one-tick spread
S_CANCEL_NOOP = 3
S_POOL_REPLACE = 4  # adds that had to evict a random resting order because the pool was full
S_MARKET_VOLUME = 5  # shares executed by market-model market orders
S_OWN_PULLED = 6  # own resting orders pulled by the market's cancels (queue-reactive own orders)
S_PULLED = 7  # 1 + id of the own order the last event pulled, 0 if none (the execution loop clears it)
S_SIZE = 8

# How the market's flow treats our resting orders (``Tables.cfg[2]``, from MarketModel.own_order_rule).
OWN_LEGACY = 0  # before 0.2: cancels skip our orders, placements anchor on the touch including ours
OWN_REACHABLE = 1  # cancels pick among all orders at a level and can pull ours
OWN_MARKET_VIEW = 2  # the market's cancels and placements act on the others' orders only (default)

INF_TICK = 1 << 60



@hot
def draw_table(row: NDArray[np.int64], u: float) -> int:
    return int(row[int(u * row.shape[0])])


@hot
def draw_mark(tb: Tables, dim: int, u: float) -> int:
    """Inverse CDF of dimension ``dim``'s size table: first k with cdf[k] > u (binary search)."""
    cdf = tb.mark_cdf
    lo = 0
    hi = cdf.shape[1] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if cdf[dim, mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return int(tb.mark_values[dim, lo])


@hot
def _add(b: BookState, side: int, price: int, size: int, rng: np.random.Generator,
         stats: NDArray[np.int64]) -> int:
    oid = add_limit(b, side, price, size, 0)
    if oid < 0 and b.meta[M_NLIST_BID + side] > 0 and b.free_stack.shape[0] > 0:
        # Pool full: evict a random resting order of the same side, then retry once. Keeps the
        # flow's arrival law intact at the cost of an extra cancellation (counted).
        n = b.meta[M_NLIST_BID + side]
        victim = b.side_list[side, int(rng.random() * n)]
        cancel(b, victim)
        stats[S_POOL_REPLACE] += 1
        oid = add_limit(b, side, price, size, 0)
    return oid


@hot
def refill_side(b: BookState, side: int, tb: Tables, rng: np.random.Generator) -> None:
    """Give an empty side ``levels`` one-order levels, the first ``gap`` ticks from the other
    touch and the rest spaced by draws from the level-gap table (so a refilled side looks like
    the sparse books the data show, not a wall of contiguous levels)."""
    levels = tb.cfg[0]
    size = draw_mark(tb, 2 + side, 0.5)
    if side == BID:
        p = best_ask(b) - tb.cfg[1]
        for _ in range(levels):
            add_limit(b, BID, p, size, 0)
            p -= draw_table(tb.gaps[0], rng.random())
    else:
        p = best_bid(b) + tb.cfg[1]
        for _ in range(levels):
            add_limit(b, ASK, p, size, 0)
            p += draw_table(tb.gaps[0], rng.random())


@hot
def init_book(b: BookState, bid_tick: int, spread: int, levels: int, per_level: int,
              tb: Tables, rng: np.random.Generator) -> None:
    """Seed a symmetric book: ``levels`` levels per side of ``per_level`` orders with sampled
    sizes, ``spread`` ticks apart at the touch and spaced by the level-gap table behind it."""
    pb = bid_tick
    pa = bid_tick + spread
    for _ in range(levels):
        for _ in range(per_level):
            add_limit(b, BID, pb, draw_mark(tb, 2, rng.random()), 0)
            add_limit(b, ASK, pa, draw_mark(tb, 3, rng.random()), 0)
        pb -= draw_table(tb.gaps[0], rng.random())
        pa += draw_table(tb.gaps[0], rng.random())


@hot
def ensure_sides(b: BookState, tb: Tables, rng: np.random.Generator, stats: NDArray[np.int64]) -> None:
    """Refill a side no other participant rests on, then keep the window centred (see
    :func:`_ensure_sides_slow`).

    Why the split: this runs after every event and almost never has anything to do. A compiled
    call that passes the book costs ~20 ns (its fifteen arrays travel as separate arguments unless
    the call is inlined, and the refill and re-centring code made this function too big to
    inline): a quarter of the whole event loop, measured. The check below is exactly the
    condition under which the slow path would neither refill nor re-centre, so it is small enough
    to be inlined and changes no result.
    """
    w = b.lvl_head.shape[1]
    margin = w // 4
    bb = b.meta[M_BEST_BID]
    ba = b.meta[M_BEST_ASK]
    if (b.meta[M_NLIST_BID] != 0 and b.meta[M_NLIST_BID + 1] != 0 and bb >= 0 and ba < w
            and bb >= margin and ba <= w - margin):
        return
    _ensure_sides_slow(b, tb, rng, stats)


@hot
def _ensure_sides_slow(b: BookState, tb: Tables, rng: np.random.Generator, stats: NDArray[np.int64]) -> None:
    """Refill a side no other participant rests on, then keep the window centred.

    A side counts as empty when no *other* participant rests on it: our own children must not
    stand in for the market (tried: a buy child resting 50 bps down became the whole bid side
    after a sweep, the market re-anchored its placements on it, and the mid fell 2.8% in five
    minutes of the illustrative model).
    """
    if b.meta[M_NLIST_BID] == 0:
        refill_side(b, BID, tb, rng)
        stats[S_REFILLS] += 1
    if b.meta[M_NLIST_BID + 1] == 0:
        refill_side(b, ASK, tb, rng)
        stats[S_REFILLS] += 1
    maybe_recenter(b)


@hot
def apply_event(b: BookState, dim: int, rng: np.random.Generator, tb: Tables,
                stats: NDArray[np.int64]) -> tuple[int, int]:
    """Apply one market-model event; returns (price tick, shares) actually placed/executed/cancelled."""
    size = draw_mark(tb, dim, rng.random())
    price = 0
    qty = 0
    if dim <= 1:  # market buy (0) lifts asks, market sell (1) hits bids
        if dim == 0:
            price = best_ask(b)
            qty = execute_market(b, BID, size, INF_TICK)
        else:
            price = best_bid(b)
            qty = execute_market(b, ASK, size, -INF_TICK)
        stats[S_MARKET_VOLUME] += qty
    elif dim <= 7:
        side = dim & 1  # even dims are bids, odd dims asks
        view = tb.cfg[2] == OWN_MARKET_VIEW
        if view:
            # Placed as the others' book dictates: relative to the others' touches. If one of our
            # resting children sits where this price would cross, the order trades with it (a
            # marketable limit), as it would on a venue; the rest, if any, rests.
            bb = market_touch(b, BID)
            ba = market_touch(b, ASK)
        else:
            bb = best_bid(b)
            ba = best_ask(b)
        kind = (dim - 2) >> 1  # 0 touch, 1 inside, 2 deep
        if kind == 0:
            price = bb if side == BID else ba
        elif kind == 1:
            spread = ba - bb
            step = draw_table(tb.inside[side], rng.random())
            if spread <= 1:
                # No price inside a one-tick spread. Joining the touch instead was tried and
                # fed the touch queues until the simulated spread sat at one tick 72% of the
                # time (AMZN: 1%); an improver who cannot improve is dropped (counted).
                stats[S_INSIDE_DROPPED] += 1
                size = 0
                price = bb if side == BID else ba
            else:
                if step > spread - 1:
                    step = spread - 1  # improve at most to one tick short of the other touch
                price = bb + step if side == BID else ba - step
        else:
            off = draw_table(tb.deep[side], rng.random())
            price = bb - off if side == BID else ba + off
        if view and size > 0 and ((side == BID and price >= best_ask(b)) or (side == ASK and price <= best_bid(b))):
            got = execute_market(b, side, size, price)  # only our children can be there: they fill
            qty = got
            size -= got
            rests = (side == BID and price < best_ask(b)) or (side == ASK and price > best_bid(b))
            if size > 0 and rests and _add(b, side, price, size, rng, stats) >= 0:
                qty += size
        elif size > 0 and _add(b, side, price, size, rng, stats) >= 0:
            qty = size
    else:
        side = dim - 8
        off = draw_table(tb.cancel[side], rng.random())
        u = rng.random()
        if tb.cfg[2] == OWN_MARKET_VIEW:
            oid = pick_cancel_market(b, side, off, u)
        else:
            oid = pick_cancel(b, side, off, u, tb.cfg[2] == OWN_REACHABLE)
        if oid < 0:
            stats[S_CANCEL_NOOP] += 1
        else:
            if b.o_own[oid] != 0:
                stats[S_OWN_PULLED] += 1
                stats[S_PULLED] = oid + 1
            price = b.o_price[oid]
            qty = cancel(b, oid)
    ensure_sides(b, tb, rng, stats)
    stats[S_EVENTS] += 1
    return price, qty


# The same function for callers compiled without numba's runtime (the execution loop), inlined at
# numba's IR level: a call passing the book and the tables costs more than most events' work.
# Not cached: an inlined function is compiled into its caller, never on its own.
apply_event_inlined: Any = nb.njit(inline="always", **_NO_REFCOUNT)(apply_event.py_func)


@hot
def _record(n: int, t: float, k: int, price: int, qty: int, b: BookState, rec_t: NDArray[np.float64],
            rec_i: NDArray[np.int64]) -> None:
    if n < rec_t.shape[0]:
        rec_t[n] = t
        rec_i[n, 0] = k
        rec_i[n, 1] = price
        rec_i[n, 2] = qty
        rec_i[n, 3] = best_bid(b)
        rec_i[n, 4] = best_ask(b)


@nb.njit(cache=True)
def run_market_events(b: BookState, times: NDArray[np.float64], dims: NDArray[np.int64],
                      tb: Tables, rng: np.random.Generator,
                      rec_t: NDArray[np.float64], rec_i: NDArray[np.int64], stats: NDArray[np.int64],
                      check_every: int) -> tuple[int, int]:
    """Book loop over a pre-drawn Hawkes stream (the order flow is exogenous to the book, so the
    stream can be drawn first, by the fast cluster sampler, without changing the law).

    Records go to ``rec_t`` / ``rec_i`` (n, 5: dim, price, shares, best bid, best ask) while they
    have room (zero-length arrays record nothing). ``check_every`` > 0 checks the touch for a
    cross after every event and runs the full invariant check every ``check_every`` events,
    stopping at the first violation. Returns (events applied, invariant code).
    """
    n = 0
    for n in range(times.shape[0]):
        k = dims[n]
        price, qty = apply_event(b, k, rng, tb, stats)
        _record(n, times[n], k, price, qty, b, rec_t, rec_i)
        if check_every > 0:
            if best_bid(b) >= best_ask(b):
                return n + 1, 1  # cheap per-event guard; the full check below is O(book)
            if (n + 1) % check_every == 0:
                code = check_invariants(b)
                if code != 0:
                    return n + 1, code
    return times.shape[0], 0


@nb.njit(cache=True)
def run_market_online(b: BookState, t0: float, horizon: float, max_events: int,
                      state: NDArray[np.float64], mu: NDArray[np.float64], beta: NDArray[np.float64],
                      jump: NDArray[np.float64], tb: Tables, rng: np.random.Generator,
                      rec_t: NDArray[np.float64],
                      rec_i: NDArray[np.int64], stats: NDArray[np.int64],
                      check_every: int) -> tuple[float, int, int]:
    """The fully fused loop: Ogata step (the Hawkes package's kernel), book update, record.

    Same law as :func:`run_market_events`; use it when the Hawkes state must be carried across
    calls (streaming) rather than drawn for a whole horizon. Returns (time, events, invariant code).
    """
    d = mu.shape[0]
    lam = np.empty(d)
    t = t0
    n = 0
    while n < max_events:
        t, k = hawkes_next_event(t, horizon, state, mu, beta, rng, lam)
        if k < 0:
            break
        hawkes_excite(state, jump, k)
        price, qty = apply_event(b, k, rng, tb, stats)
        _record(n, t, k, price, qty, b, rec_t, rec_i)
        n += 1
        if check_every > 0:
            if best_bid(b) >= best_ask(b):
                return t, n, 1
            if n % check_every == 0:
                code = check_invariants(b)
                if code != 0:
                    return t, n, code
    return t, n, 0
