"""Top-of-book calibration: touch-add sizes scaled so the engine's touch balances (calibration.touch_balance)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from microexec.replay.touch_check import model_figures
from simulator.calibration import calibrate, load_binance, slice_flow
from simulator.calibration.flow import RecordedFlow
from simulator.calibration.touch_balance import balance_touch_adds, touch_scale
from simulator.market.types import CANCEL_ASK, CANCEL_BID, LIMIT_ASK_TOUCH, LIMIT_BID_TOUCH, MARKET_SELL
from tests.support.data import DATA_DIR

BTC = DATA_DIR / "binance" / "spot_btcusdt_20240808.gz"


def _flow(dims: list[int], sizes: list[int]) -> RecordedFlow:
    n = len(dims)
    none = np.zeros(0, np.int64)
    return RecordedFlow("X", "test", np.arange(n, dtype=float), np.asarray(dims, np.int64), np.asarray(sizes, np.int64),
                        float(n), 0.01, 100.0, (none, none), (none, none), np.ones(n, np.int64), np.full(n, 100.0))


def test_the_scale_is_the_engines_balance_at_a_fixed_price() -> None:
    # Bid: 100 adds of 10, 50 cancels, 100 shares sold: f = 100 / ((100 - 50) * 10) = 0.2.
    # Ask: as many cancels as adds, so it already balances (f = 1) whatever the buys.
    dims = [LIMIT_BID_TOUCH] * 100 + [CANCEL_BID] * 50 + [MARKET_SELL] * 10 + [LIMIT_ASK_TOUCH] * 20 + [CANCEL_ASK] * 20
    sizes = [10] * 100 + [3] * 50 + [10] * 10 + [7] * 20 + [7] * 20
    flow = _flow(dims, sizes)
    assert touch_scale(flow) == pytest.approx({"bid": 0.2, "ask": 1.0})
    out = balance_touch_adds(flow)
    assert np.all(out.sizes[out.dims == LIMIT_BID_TOUCH] == 2)
    assert np.array_equal(out.sizes[out.dims != LIMIT_BID_TOUCH], flow.sizes[flow.dims != LIMIT_BID_TOUCH])
    assert np.array_equal(out.times, flow.times) and np.array_equal(out.dims, flow.dims)
    assert out.diagnostics["touch_scale_bid_ppm"] == 200_000 and out.diagnostics["touch_scale_ask_ppm"] == 1_000_000


def test_a_side_without_trades_or_adds_keeps_its_sizes() -> None:
    flow = _flow([LIMIT_BID_TOUCH, LIMIT_BID_TOUCH, CANCEL_ASK], [5, 6, 1])
    assert touch_scale(flow) == {"bid": 1.0, "ask": 1.0}
    assert np.array_equal(balance_touch_adds(flow).sizes, flow.sizes)


def test_on_binance_the_balanced_touch_turns_over_and_a_joining_child_fills() -> None:
    """Unbalanced, the calibrated BTCUSDT touch only grows (hundreds of BTC against ~1 BTC recorded) and a child
    joining it never fills; balanced, it stays a few BTC deep and most joining children fill within 60 s."""
    start = time.process_time()
    flow = slice_flow(load_binance([BTC], max_records=20_000, balance_touch=False), 0.0, 120.0)
    figures = {}
    for name, f in (("raw", flow), ("balanced", balance_touch_adds(flow))):
        figures[name] = model_figures(calibrate(f).model, 180.0, (60.0,), 1e-5)
    raw, bal = figures["raw"], figures["balanced"]
    assert raw["bid_size_median"] > 50 and max(raw["join_fill"]["60s"].values()) < 0.2
    assert bal["bid_size_median"] < 10 and min(bal["join_fill"]["60s"].values()) > 0.5
    assert time.process_time() - start < 120
