"""Does a child joining the back of the touch fill? The recording's answer beside the calibrated model's.

    python -m microexec.replay.touch_check [--market FILES] [--horizons 30 60 120] [--seconds 600] [--unbalanced]

Why: on the Binance BTCUSDT recording the state's ``fill_hazard`` says a passive child at the touch
very likely fills within 60 s, yet on the market model calibrated on that recording (the one the
replay executes orders on) passive children rarely fill. This measures both sides on the same
terms, so the one that is wrong can be named instead of guessed:

* **Recording** (top of book and trades, on the feed's one clock, ``producers.binance``): at every
  second, a child joins the back of the bid (or ask) queue at the displayed touch size. It fills when
  the aggressive volume printed at its price since it joined exceeds the queue that was ahead of it,
  or when a trade prints through its price. Cancellations ahead of it are ignored, so this is a lower
  bound on the fill probability (the hazard makes the same assumption).
* **Model**: seeded paths of the calibrated model (5 by default), each one's touch sampled every 0.1 s
  and its market orders as the trades: the same figures, by the same code, reported as [min, median,
  max] over the paths, so the two columns compare like for like.

* **The state's hazard** against the recording: at sampled state records, ``fill_hazard`` beside the
  share of children joining then that filled within 60 s, by hazard bucket.

Nothing here decides anything; it prints the figures docs/validation.md quotes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from microexec.replay.sources import calibrate_window, load_recorded_market
from producers.records import QUOTE, TRADE, FeedRecord
from simulator.book.snapshot import snapshot
from simulator.market.engine import S_SIZE, run_market_events
from simulator.market.flow import draw_flow
from simulator.market.model import MarketModel
from simulator.market.run import start_book


@dataclass(frozen=True)
class Tape:
    """Quotes (t ns, bid, bid size, ask, ask size) and trades (t ns, price, size, +1 buy / -1 sell aggressor)."""

    quotes: NDArray[np.float64]
    trades: NDArray[np.float64]


def tape_from_feed(feed: Sequence[FeedRecord]) -> Tape:
    """The feed's quotes and trades; a trade's aggressor is the side of the quote in force it printed at
    or beyond (at the mid or inside: by the mid, as the calibration's mapping does)."""
    quotes, trades = [], []
    bid = ask = None
    for r in sorted(feed, key=lambda x: x.ts_ns):
        p = r.value.get("payload", {})
        if r.kind == QUOTE:
            bid, ask = float(p["bp"]), float(p["ap"])
            quotes.append((r.ts_ns, bid, float(p["bs"]), ask, float(p["as"])))
        elif r.kind == TRADE and bid is not None and ask is not None:
            px = float(p["p"])
            trades.append((r.ts_ns, px, float(p["s"]), 1.0 if px >= 0.5 * (bid + ask) else -1.0))
    return Tape(np.asarray(quotes, dtype=np.float64), np.asarray(trades, dtype=np.float64))


def joined_fills(tape: Tape, side: str, t0_ns: float, horizon_s: float) -> bool:
    """Whether a child joining the back of ``side`` ('bid' or 'ask') at ``t0_ns`` fills within ``horizon_s``
    (queue ahead = displayed size; only aggressive volume at its price advances it; a print through it fills)."""
    q, t = tape.quotes, tape.trades
    sign, col_p, col_s = (-1.0, 1, 2) if side == "bid" else (1.0, 3, 4)
    hits = t[t[:, 3] == sign]  # sell aggressors hit bids, buy aggressors lift asks
    k = max(0, int(np.searchsorted(q[:, 0], t0_ns, side="right")) - 1)
    price, ahead = q[k, col_p], q[k, col_s]
    lo, hi = np.searchsorted(hits[:, 0], [t0_ns, t0_ns + horizon_s * 1e9], side="right")
    w = hits[lo:hi]
    through = w[:, 1] < price - 1e-9 if side == "bid" else w[:, 1] > price + 1e-9
    done = np.cumsum(np.where(np.abs(w[:, 1] - price) <= 1e-9, w[:, 2], 0.0)) > ahead + 1e-12
    return bool(np.any(through | done))


def join_fills(tape: Tape, side: str, horizon_s: float, every_s: float = 1.0) -> float:
    """Share of children joining the back of ``side`` every ``every_s`` seconds (after 30 s) that fill within
    ``horizon_s`` (:func:`joined_fills`)."""
    q = tape.quotes
    grid = np.arange(q[0, 0] + 30e9, q[-1, 0] - horizon_s * 1e9, every_s * 1e9)
    outcomes = [joined_fills(tape, side, t0, horizon_s) for t0 in grid]
    return float(np.mean(outcomes)) if outcomes else float("nan")


def hazard_reliability(feed: Sequence[FeedRecord], tape: Tape, horizon_s: float = 60.0, n: int = 1500,
                       seed: int = 0) -> list[dict[str, float]]:
    """The state's ``fill_hazard`` against what happened: at ``n`` seeded state records, the hazard beside the
    share of children joining the bid and the ask then that filled within ``horizon_s``, by hazard bucket.
    Why: the advisor turns an order passive on this hazard (PassiveFillConfig); the recording says whether a
    high hazard means a likely fill."""
    from microexec.offline_cli import state_run
    from streams.timeutil import parse_ts_ns

    states = [e.value for e in state_run(feed).outputs if isinstance(e.value, dict)]
    ts = np.array([parse_ts_ns(str(s["event_ts"])) for s in states], dtype=np.float64)
    hz = np.array([float(s["fill_hazard"]) for s in states])
    ok = np.flatnonzero(ts + horizon_s * 1e9 <= tape.quotes[-1, 0])
    pick = np.random.default_rng(seed).choice(ok, size=min(n, ok.size), replace=False)
    real = np.array([0.5 * (joined_fills(tape, "bid", ts[i], horizon_s) + joined_fills(tape, "ask", ts[i], horizon_s))
                     for i in pick])
    out = []
    for lo, hi in ((0.0, 0.3), (0.3, 0.65), (0.65, 0.9), (0.9, 1.0 + 1e-9)):
        m = (hz[pick] >= lo) & (hz[pick] < hi)
        if m.any():
            out.append({"hazard_from": lo, "hazard_to": min(hi, 1.0), "n": int(m.sum()),
                        "mean_hazard": float(hz[pick][m].mean()), "joined_filled": float(real[m].mean())})
    return out


def recorded_figures(tape: Tape, horizons: Sequence[float], tick: float = 0.01) -> dict[str, Any]:
    """Touch, spread, price-change and join-fill figures of a tape (sizes in venue units)."""
    q, t = tape.quotes, tape.trades
    span = (q[-1, 0] - q[0, 0]) / 1e9
    spread = np.rint((q[:, 3] - q[:, 1]) / tick)
    mid = 0.5 * (q[:, 1] + q[:, 3])
    grid = np.arange(q[0, 0], q[-1, 0] - 60e9, 1e9)
    i0 = np.searchsorted(q[:, 0], grid, side="right") - 1
    i1 = np.searchsorted(q[:, 0], grid + 60e9, side="right") - 1
    return {
        "seconds": span,
        "spread_one_tick_share": float(np.mean(spread == 1)),
        "bid_size_median": float(np.median(q[:, 2])), "ask_size_median": float(np.median(q[:, 4])),
        "touch_price_changes_per_s": float((np.sum(np.diff(q[:, 1]) != 0) + np.sum(np.diff(q[:, 3]) != 0))
                                           / (2 * span)),
        "mid_move_60s_abs_median_ticks": float(np.median(np.abs(mid[i1] - mid[i0])) / tick),
        "aggressive_volume_per_s": float(t[:, 2].sum() / span),
        "join_fill": {f"{h:g}s": {s: join_fills(tape, s, h) for s in ("bid", "ask")} for h in horizons},
    }


def model_figures(model: MarketModel, seconds: float, horizons: Sequence[float], size_unit: float = 1.0,
                  seed: int = 12345, every_s: float = 0.1) -> dict[str, Any]:
    """The same figures on one seeded path of ``model``: its touch sampled every ``every_s`` seconds
    is the tape's quotes, its market orders the tape's trades (sizes back in venue units)."""
    flow_ss, book_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.Generator(np.random.PCG64(book_ss))
    book = start_book(model, rng)
    ev = draw_flow(model, seconds, np.random.Generator(np.random.PCG64(flow_ss)))
    stats = np.zeros(S_SIZE, np.int64)
    rec_t, rec_i = np.zeros(len(ev)), np.zeros((len(ev), 5), np.int64)
    quotes = []
    k0 = 0
    for t in np.arange(every_s, seconds, every_s):
        k1 = int(np.searchsorted(ev.times, t))
        if k1 > k0:
            run_market_events(book, ev.times[k0:k1], ev.dims[k0:k1], model.tables, rng, rec_t[k0:k1],
                              rec_i[k0:k1], stats, 0)
            k0 = k1
        s = snapshot(book, 1)
        if s.bids and s.asks:
            quotes.append((t * 1e9, s.bids[0][0] * model.tick_size, s.bids[0][1] * size_unit,
                           s.asks[0][0] * model.tick_size, s.asks[0][1] * size_unit))
    mkt = rec_i[:k0, 0] <= 1
    trades = np.column_stack([rec_t[:k0][mkt] * 1e9, rec_i[:k0, 1][mkt] * model.tick_size,
                              rec_i[:k0, 2][mkt] * size_unit, np.where(rec_i[:k0, 0][mkt] == 0, 1.0, -1.0)])
    return recorded_figures(Tape(np.asarray(quotes, dtype=np.float64), trades), horizons, model.tick_size)


def spread_of(paths: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of several paths as [min, median, max]. Why: a balanced touch is a queue whose size
    wanders (BTCUSDT: medians of 1-8 BTC from path to path), so one path is not the model."""
    out: dict[str, Any] = {}
    for key, first in paths[0].items():
        if isinstance(first, dict):
            out[key] = spread_of([p[key] for p in paths])
        elif first is not None:
            vals = np.array([p[key] for p in paths], dtype=float)
            out[key] = [float(vals.min()), float(np.median(vals)), float(vals.max())]
    return out


def main(argv: list[str] | None = None) -> int:
    from microexec.sample_data import binance_files

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--market", nargs="+", type=Path, default=None,
                    help="a recording, as microexec replay takes it (default: the Binance files in data/binance)")
    ap.add_argument("--horizons", nargs="+", type=float, default=[30.0, 60.0, 120.0])
    ap.add_argument("--seconds", type=float, default=600.0, help="length of each simulated path")
    ap.add_argument("--paths", type=int, default=5, help="simulated paths (seeds 1..N); their spread is reported")
    ap.add_argument("--unbalanced", action="store_true",
                    help="calibrate without balancing the touch (simulator.calibration.touch_balance), as before")
    args = ap.parse_args(argv)
    paths = args.market or list(binance_files())
    market = load_recorded_market(paths)
    model, _ = market.model_at(market.symbols[0], market.start_ns)
    if args.unbalanced:
        model = calibrate_window(market.kind, paths, market.feed, model.tick_size, lambda _m: None,
                                 balance_touch=False).model
    tape = tape_from_feed(market.feed)
    out = {"recorded": recorded_figures(tape, args.horizons), "hazard_vs_joined_fill_60s":
           hazard_reliability(market.feed, tape),
           "model": spread_of([model_figures(model, args.seconds, args.horizons, market.size_unit, seed=k)
                               for k in range(1, args.paths + 1)])}
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
