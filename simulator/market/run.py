"""Python entry point for market-only simulation: one seeded path of the market model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.book.core import BookState, new_book
from simulator.book.snapshot import BookSnapshot, snapshot
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.simulate import jump_matrix
from simulator.market.engine import S_SIZE, init_book, run_market_events, run_market_online
from simulator.market.flow import draw_flow
from simulator.market.model import MarketModel

STAT_NAMES = ("events", "refills", "inside_dropped", "cancel_noop", "pool_replace", "market_volume", "own_pulled",
              "last_pulled")


@dataclass(frozen=True)
class MarketRun:
    """One path: event records, counters, the final book, and the sha256 of the record stream."""

    times: NDArray[np.float64]
    records: NDArray[np.int64]  # (n, 5): dim, price tick, shares, best bid, best ask (after event)
    stats: dict[str, int]
    end_time: float
    invariant_code: int
    final_book: BookSnapshot
    digest: str


def stream_digest(times: NDArray[np.float64], records: NDArray[np.int64]) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(times, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(records, dtype="<i8").tobytes())
    return h.hexdigest()


def start_book(model: MarketModel, rng: np.random.Generator, window: int = 4096,
               capacity: int = 1 << 16) -> BookState:
    b = new_book(model.ref_tick - window // 2, window=window, capacity=capacity)
    init_book(b, model.ref_tick, model.init_spread_ticks, model.init_levels,
              model.init_orders_per_level, model.tables, rng)
    return b


def simulate_market(model: MarketModel, seconds: float, seed: int | np.random.SeedSequence,
                    *, flow: str = "cluster", max_events: int = 50_000_000, record: bool = True,
                    check_every: int = 0, events: HawkesEvents | None = None) -> MarketRun:
    """Run the market model for ``seconds`` of simulated time from a seeded, symmetric start book.

    ``flow="cluster"`` draws the whole Hawkes stream first with the Hawkes package's cluster
    sampler, then runs the book over it; ``flow="thinning"`` runs the fully fused online loop.
    Both are exact samplers of the same law (the order flow does not react to the book) but
    consume random numbers differently, so their digests differ. ``events`` (cluster flow only)
    runs the book over a given flow instead of drawing one from the model, e.g. flow drawn window
    by window from models fitted per window; the book's stream is seeded as usual.
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    flow_ss, book_ss = ss.spawn(2)
    rng = np.random.Generator(np.random.PCG64(book_ss))
    b = start_book(model, rng)
    hp = model.hawkes
    stats = np.zeros(S_SIZE, np.int64)
    if flow == "cluster":
        ev = events if events is not None else draw_flow(
            model, float(seconds), np.random.Generator(np.random.PCG64(flow_ss)), max_events=max_events)
        cap = len(ev) if record else 0
        rec_t = np.zeros(cap)
        rec_i = np.zeros((cap, 5), np.int64)
        n, code = run_market_events(b, ev.times, ev.dims, model.tables, rng, rec_t, rec_i, stats,
                                    int(check_every))
        t = float(seconds)
    elif flow == "thinning":
        if model.multiscale is not None:
            raise ValueError("the fused thinning loop draws the stationary model only; use flow='cluster'")
        cap = 0
        if record:
            expected = float(np.sum(hp.stationary_intensity())) * seconds
            cap = int(min(max_events, max(1024, 1.5 * expected + 10 * np.sqrt(expected + 1))))
        rec_t = np.zeros(cap)
        rec_i = np.zeros((cap, 5), np.int64)
        state = np.zeros((hp.dim, hp.dim))
        t, n, code = run_market_online(b, 0.0, float(seconds), int(max_events), state, hp.mu, hp.beta,
                                       jump_matrix(hp), model.tables, rng, rec_t, rec_i, stats,
                                       int(check_every))
        if record and n > cap:
            raise RuntimeError(f"record buffer of {cap} events overflowed ({n} events)")
    else:
        raise ValueError(f"flow must be 'cluster' or 'thinning', not {flow!r}")
    m = min(n, cap)
    return MarketRun(rec_t[:m].copy(), rec_i[:m].copy(), dict(zip(STAT_NAMES, stats.tolist(), strict=True)),
                     float(t), int(code), snapshot(b), stream_digest(rec_t[:m], rec_i[:m]))
