"""Torghut-format records from the Hawkes book simulator: quotes, trades and optional L2 depth.

Why a separate compiled loop (``_run_feed``) instead of ``simulate_market``: a quote carries the
touch *sizes* and an L2 record the top five levels, which the market run's records (dim, price,
shares, touch prices) do not hold; this loop applies the same ``apply_event`` and reads the book
after every event. The order flow of each regime segment is drawn first (cluster sampler) from
its own seeded generator, the book's randomness from one generator per symbol, so the records are
a function of (seed, symbol list, start, duration) only.

What is emitted per symbol, in event-time order:

* a quote whenever the touch (either price or either size) changed after an event;
* a trade for every market order that executed shares, at the touch price it hit first, with the
  whole executed size (a sweep through several levels prints once);
* with ``l2_interval_s`` > 0, a top-5 L2 snapshot at the first event at or after every multiple
  of ``l2_interval_s``.

``ingestTs`` is set to the event time here; the live producer (``producers.replay.replay`` with
``stamp_ingest=True``) overwrites it with the wall time at which the record is sent, as a real
feed stamps it. Every other byte is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numba as nb
import numpy as np
from numpy.typing import NDArray

from producers.records import BOOK, FeedRecord, quote_record, trade_record
from producers.simulated_market.regimes import DEFAULT_SEGMENT_S, regime_model, segments
from producers.simulated_market.seeding import rng
from producers.simulated_market.symbols import symbol_model
from simulator.book.core import ASK, BID, BookState, best_ask, best_bid, depth, side_volume_at
from simulator.hawkes.simulate import simulate
from simulator.market.engine import S_SIZE, apply_event
from simulator.market.model import MarketModel, Tables
from simulator.market.run import start_book
from streams.timeutil import format_ts_ns

FEED = "microexec-sim"
VENUE = "SIM"
SOURCE = "microexec-sim"
L2_LEVELS = 5
# Columns of the per-event output of the compiled loop.
C_DIM, C_PRICE, C_QTY, C_BID, C_ASK, C_BID_SZ, C_ASK_SZ = range(7)


@nb.njit(cache=True)
def _run_feed(b: BookState, times: NDArray[np.float64], dims: NDArray[np.int64], tb: Tables,
              g: np.random.Generator, stats: NDArray[np.int64], out: NDArray[np.int64],
              l2_every: float, next_l2: float, l2_t: NDArray[np.float64], l2_idx: NDArray[np.int64],
              l2: NDArray[np.int64], tmp: NDArray[np.int64]) -> tuple[int, float]:
    """Apply every event; per event write (dim, price, qty, bid, ask, bid size, ask size) to ``out``
    and, when due, the top levels to ``l2`` (k, side, level, price/size). Returns (L2 rows, next due)."""
    k = 0
    for n in range(times.shape[0]):
        price, qty = apply_event(b, dims[n], g, tb, stats)
        bb = best_bid(b)
        ba = best_ask(b)
        out[n, 0] = dims[n]
        out[n, 1] = price
        out[n, 2] = qty
        out[n, 3] = bb
        out[n, 4] = ba
        out[n, 5] = side_volume_at(b, BID, bb)
        out[n, 6] = side_volume_at(b, ASK, ba)
        if l2_every > 0 and times[n] >= next_l2 and k < l2_t.shape[0]:
            l2[k, :, :, :] = 0
            nb_ = depth(b, BID, tmp.shape[0], tmp)
            l2[k, 0, :nb_, :] = tmp[:nb_, :]
            na_ = depth(b, ASK, tmp.shape[0], tmp)
            l2[k, 1, :na_, :] = tmp[:na_, :]
            l2_t[k] = times[n]
            l2_idx[k] = n
            k += 1
            while next_l2 <= times[n]:
                next_l2 += l2_every
    return k, next_l2


def _px(ticks: int, tick: float) -> float:
    return round(ticks * tick, 6)


def symbol_records(seed: int, symbol: str, start_ns: int, seconds: float, *,
                   segment_s: float = DEFAULT_SEGMENT_S, l2_interval_s: float = 0.0,
                   model: MarketModel | None = None, regime: str | None = None) -> Iterator[FeedRecord]:
    """One symbol's feed over ``seconds`` of event time from ``start_ns``, segment by segment.

    ``model`` replaces the symbol's seeded calm model; ``regime`` forces one regime on every
    segment instead of the schedule (to study a regime; the live feed never sets it).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if l2_interval_s < 0:
        raise ValueError("l2_interval_s must be >= 0")
    calm = model or symbol_model(seed, symbol)
    book_rng = rng(seed, "book", symbol)
    b = start_book(calm, book_rng)
    stats = np.zeros(S_SIZE, np.int64)
    tick = calm.tick_size
    last: tuple[int, ...] | None = None
    seq = 0
    trade_id = 0
    next_l2 = 0.0
    tmp = np.zeros((L2_LEVELS, 2), np.int64)
    for index, (a, z, scheduled) in enumerate(segments(seed, symbol, seconds, segment_s)):
        m = regime_model(calm, regime or scheduled)
        ev = simulate(m.hawkes, z - a, rng(seed, "flow", symbol, index), method="cluster")
        times = np.ascontiguousarray(ev.times + a)
        dims = np.ascontiguousarray(ev.dims, dtype=np.int64)
        out = np.zeros((len(times), 7), np.int64)
        cap = int((z - a) / l2_interval_s) + 2 if l2_interval_s > 0 else 0
        l2_t = np.zeros(cap)
        l2_idx = np.zeros(cap, np.int64)
        l2 = np.zeros((cap, 2, L2_LEVELS, 2), np.int64)
        n_l2, next_l2 = _run_feed(b, times, dims, m.tables, book_rng, stats, out, float(l2_interval_s),
                                  next_l2, l2_t, l2_idx, l2, tmp)
        j = 0
        for n in range(len(times)):
            ts = start_ns + round(float(times[n]) * 1e9)
            row = out[n]
            if row[C_DIM] <= 1 and row[C_QTY] > 0:
                trade_id += 1
                seq += 1
                yield trade_record(symbol, ts, ts, _px(int(row[C_PRICE]), tick), float(row[C_QTY]), trade_id, seq,
                                   FEED, VENUE, SOURCE)
            touch = (int(row[C_BID]), int(row[C_ASK]), int(row[C_BID_SZ]), int(row[C_ASK_SZ]))
            if touch != last:
                last = touch
                seq += 1
                yield quote_record(symbol, ts, ts, _px(touch[0], tick), float(touch[2]), _px(touch[1], tick),
                                   float(touch[3]), seq, FEED, VENUE, SOURCE)
            while j < n_l2 and l2_idx[j] == n:
                seq += 1
                levels = [[{"price": _px(int(p), tick), "size": float(v)} for p, v in l2[j, side] if v > 0]
                          for side in (0, 1)]
                yield FeedRecord(BOOK, symbol, ts, {"symbol": symbol, "event_ts": format_ts_ns(ts), "venue": VENUE,
                                                     "sequence": seq, "bids": levels[0], "asks": levels[1]})
                j += 1


def market_records(seed: int, symbols: list[str], start_ns: int, seconds: float, *,
                   segment_s: float = DEFAULT_SEGMENT_S, l2_interval_s: float = 0.0) -> Iterator[FeedRecord]:
    """All symbols merged in event-time order (ties: symbol list order, then each feed's order)."""
    if len(set(symbols)) != len(symbols):
        raise ValueError("symbols must be distinct")
    streams = [(((r.ts_ns, i), r) for r in symbol_records(seed, s, start_ns, seconds, segment_s=segment_s,
                                                            l2_interval_s=l2_interval_s))
               for i, s in enumerate(symbols)]
    for _, record in heapq.merge(*streams, key=lambda item: item[0]):
        yield record
