"""Drift windows: mean |divergence| over tumbling windows of orders per symbol; K consecutive windows
past the tolerance set recalibration_requested on the record that closes the K-th, not before, once."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.tca import windows
from consumers.tca.config import TcaConfig
from consumers.tca.processor import TcaProcessor
from streams.offline import run_offline
from tests.consumers.test_tca_processor import records
from tests.support.tca_feed import MS, NS, OrderSpec, order_updates, quote, shortfall

T0 = 1_795_100_000 * NS


def test_window_judges_only_complete_windows_and_requests_once_per_k() -> None:
    w: dict[str, Any] | None = None
    flags = []
    for divergence in [20.0, -20.0, 15.0, -13.0, 30.0, 0.0, 14.0, 14.0]:  # windows of 2: means 20, 14, 15, 14
        r = windows.observe(w, divergence, size=2, tolerance_bps=12.0, k=3)
        w = r.state
        flags.append((r.closed, r.drift_windows, r.recalibrate))
    assert flags == [(False, 0, False), (True, 1, False), (False, 1, False), (True, 2, False),
                     (False, 2, False), (True, 3, True), (False, 0, False), (True, 1, False)]


def test_a_window_within_tolerance_breaks_the_streak_and_orders_without_divergence_do_not_count() -> None:
    w = None
    out = []
    for divergence in [20.0, 20.0, None, 5.0, 5.0, 20.0, 20.0]:
        r = windows.observe(w, divergence, size=2, tolerance_bps=12.0, k=2)
        w = r.state
        out.append((r.mean_abs_bps, r.drift_windows, r.recalibrate))
    assert out == [(20.0, 0, False), (20.0, 1, False), (None, 1, False), (5.0, 1, False), (5.0, 0, False),
                   (20.0, 0, False), (20.0, 1, False)]


def _order(i: int, slippage_bps: float, symbol: str = "MSFT") -> list[tuple[str, Any]]:
    """One buy filled at once, arrival mid 100.00, simulated p50 0: divergence = slippage."""
    sub = T0 + i * 60 * NS
    price = 100.0 * (1 + slippage_bps / 1e4)
    spec = OrderSpec(f"w-{symbol}-{i}", symbol, "buy", 10.0, sub, [(sub + NS, price, 10.0)])
    return ([("quotes", quote(symbol, sub - NS, 99.99, 100.01)), ("quotes", quote(symbol, sub + 100 * MS, 99.99,
                                                                                     100.02)),
             ("shortfall", shortfall(spec.order_id, symbol, "buy", 10.0, sub, 0.0, 5.0))]
            + [("trade_updates", env) for env in order_updates(spec)])


def test_recalibration_requested_after_k_drifting_windows_and_not_before() -> None:
    cfg = TcaConfig(window_orders=3, drift_windows=2, drift_tolerance_bps=12.0)
    slippages = [15.0, -14.0, 13.0,  # window 1: mean 14 > 12, drifting
                 20.0, 10.0, 12.5,  # window 2: mean 14.17, drifting -> request here
                 30.0, 30.0, 30.0,  # window 3: drifting, streak restarted at 1
                 1.0, 2.0, 3.0]  # window 4: within tolerance
    items = [item for i, s in enumerate(slippages) for item in _order(i, s)]
    items += _order(100, 25.0, symbol="NVDA")  # another symbol has its own window
    result = run_offline(TcaProcessor(cfg), records(items))
    assert result.dlq == []
    msft = [dict(e.value) for e in result.outputs if e.key == "MSFT"]  # type: ignore[arg-type]
    assert len(msft) == 12
    for value, s in zip(msft, slippages, strict=True):
        assert value["divergence_bps"] == pytest.approx(s, abs=1e-6)
    requested = [i for i, v in enumerate(msft) if v["recalibration_requested"]]
    assert requested == [5]
    assert [i for i, v in enumerate(msft) if v["window_closed"]] == [2, 5, 8, 11]
    assert [v["drift_windows"] for v in msft] == [0, 0, 1, 1, 1, 2, 0, 0, 1, 1, 1, 0]
    assert msft[5]["window_mean_abs_divergence_bps"] == pytest.approx((20.0 + 10.0 + 12.5) / 3, abs=1e-6)
    assert msft[3]["window_mean_abs_divergence_bps"] == pytest.approx(20.0, abs=1e-6)  # the open window so far
    nvda = [dict(e.value) for e in result.outputs if e.key == "NVDA"]  # type: ignore[arg-type]
    assert len(nvda) == 1 and nvda[0]["drift_windows"] == 0 and not nvda[0]["recalibration_requested"]
