"""Top-of-book flow: scale the sizes added at the touch so the simulated touch balances as the recorded one does.

Why: a top-of-book feed (Torghut quotes, Binance ``bookTicker``) shows an increase of the touch size,
which the mapping (``simulator.calibration.torghut``) turns into one new resting order, but it cannot
show what becomes of a level once the price moves past it: on a venue where liquidity is requoted,
most of the volume added at a touch is cancelled out of sight, behind the new touch. On the Binance
BTCUSDT recording, increments at an unchanged bid add 6.1 BTC/s while the visible decreases, pulled
levels and trades at the bid remove 2.6 BTC/s; the touch stays around 1 BTC only because its price
changes ~5.5 times a second. The market engine keeps every order it is given until a trade or one of
the market's cancels (one whole order each) removes it, so the calibrated model's touch grew to
~700 BTC, its price never moved (0.004 changes/s), and a child joining the touch never filled
(``python -m microexec.replay.touch_check``: 0% within 120 s, 69-95% on the recording).

The rule is the engine's own balance at a fixed price, a moment condition on the mapped flow, per
side: expected volume added at the touch = volume the market's cancels remove + market-order volume,

    n_add * f * s_add = n_cancel * f * s_add + V_market  =>  f = V_market / ((n_add - n_cancel) * s_add)

(each of the market's cancels removes one whole order at the touch, of mean size ``f * s_add``).
Touch-add sizes are multiplied by ``f`` when it is below 1; nothing else changes (event times, and so
the Hawkes fit, are untouched). Order-by-order data (LOBSTER) need no such step: there each cancel
names its order. The top-of-book mapping applies it itself (``flow_from_envelopes``, ``load_torghut``,
``load_binance``, ``balance_touch=True`` by default), so every calibration from such a feed (the
replay's, the simulation consumer's, ``microexec calibrate``) gets the same model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulator.calibration.flow import RecordedFlow
from simulator.market.types import CANCEL_ASK, CANCEL_BID, LIMIT_ASK_TOUCH, LIMIT_BID_TOUCH, MARKET_BUY, MARKET_SELL

# (side name, touch adds, the market's cancels on that side, market orders that trade against it)
SIDES = (("bid", LIMIT_BID_TOUCH, CANCEL_BID, MARKET_SELL), ("ask", LIMIT_ASK_TOUCH, CANCEL_ASK, MARKET_BUY))


def touch_scale(flow: RecordedFlow) -> dict[str, float]:
    """``f`` per side (1.0 when the side already balances or has no adds or trades)."""
    out = {}
    for name, add, cancel, market in SIDES:
        adds = flow.sizes[flow.dims == add]
        n_net = adds.size - int(np.sum(flow.dims == cancel))
        v_market = float(flow.sizes[flow.dims == market].sum())
        f = 1.0
        if n_net > 0 and adds.size and v_market > 0:
            f = min(1.0, v_market / (n_net * float(adds.mean())))
        out[name] = f
    return out


def balance_touch_adds(flow: RecordedFlow) -> RecordedFlow:
    """``flow`` with its touch-add sizes scaled by :func:`touch_scale` (at least 1 unit each); the scale
    per side is recorded in ``diagnostics`` as ``touch_scale_<side>_ppm`` (parts per million)."""
    scale = touch_scale(flow)
    sizes = flow.sizes.copy()
    diag = dict(flow.diagnostics)
    for name, add, _, _ in SIDES:
        sel = flow.dims == add
        sizes[sel] = np.maximum(1, np.rint(sizes[sel] * scale[name])).astype(np.int64)
        diag[f"touch_scale_{name}_ppm"] = round(scale[name] * 1e6)
    return replace(flow, sizes=sizes, diagnostics=diag)
