"""Both arms of an order on the same seeded market: a fallback gives identical arms, applied advice a
tighter advisor arm, and a risk rejection an advisor arm that sent nothing."""

from __future__ import annotations

from typing import Any

from microexec.replay.run import ReplayConfig, execute_orders
from microexec.replay.sources import Market
from microexec.replay.timeline import TimedRecord, Timeline
from producers.paper.orders import PaperOrder
from producers.records import QUOTE, FeedRecord
from simulator.market.model import illustrative_model
from streams.timeutil import format_ts_ns
from torghut_client import Coordinates

S = 1_000_000_000
T0 = 1_767_225_600 * S


def _state(ts: int) -> dict[str, Any]:
    return {"symbol": "X", "event_ts": format_ts_ns(ts), "spread_bps": 3.0, "depth_top5_usd": 1e6,
            "order_flow_imbalance": 0.1, "latency_ms_estimate": 5.0, "fill_hazard": 0.5, "liquidity_regime": "stressed"}


def _advice(ts: int, risk: float) -> dict[str, Any]:
    return {"symbol": "X", "event_ts": format_ts_ns(ts), "urgency_tier": "low", "max_participation_rate": 0.05,
            "preferred_order_type": "limit", "quote_offset_bps": 0.0, "adverse_selection_risk": risk,
            "latency_ms": 1.0, "fallback_reason": None}


def test_fallback_applied_and_rejected_orders() -> None:
    model = illustrative_model()
    feed = [FeedRecord(QUOTE, "X", T0, {}), FeedRecord(QUOTE, "X", T0 + 600 * S, {})]
    market = Market("simulated", ["X"], feed, lambda _s, _t: (model, None), [])
    recs = [TimedRecord(T0 + 100 * S, "state", "X", _state(T0 + 100 * S), Coordinates("s", 0, 0)),
            TimedRecord(T0 + 100 * S, "advice", "X", _advice(T0 + 100 * S, 0.3), Coordinates("a", 0, 0)),
            TimedRecord(T0 + 200 * S, "state", "X", _state(T0 + 200 * S), Coordinates("s", 0, 1)),
            TimedRecord(T0 + 200 * S, "advice", "X", _advice(T0 + 200 * S, 0.9), Coordinates("a", 0, 1))]
    orders = [PaperOrder("before-state", "X", "buy", 400, 60.0, "t", T0 + 50 * S),
              PaperOrder("applied", "X", "sell", 400, 60.0, "t", T0 + 105 * S),
              PaperOrder("rejected", "X", "buy", 400, 60.0, "t", T0 + 205 * S)]
    fallback, applied, rejected = execute_orders(market, Timeline(recs, 0), orders, ReplayConfig(seed=3))

    assert fallback.fallback_reason == "missing_state" and fallback.regime == "no_state" and not fallback.applied
    assert fallback.baseline == fallback.advised  # same seed, same policy: the same execution
    assert fallback.advised_policy == "marketable / normal x1" and fallback.advised_stretch == 1.0

    # low urgency at a 5% cap against 10% normal: 4x slower, so Torghut's maximum stretch (3x), and the
    # half pace is expressed as time (the normal tier over the stretched horizon).
    assert applied.applied and applied.regime == "stressed" and applied.advised_policy == "passive / normal x3"
    assert applied.advised_stretch == 3.0
    assert applied.baseline.arrival == applied.advised.arrival  # same market path at arrival

    assert rejected.risk_rejected and rejected.advised_policy == "risk-rejected" and rejected.advised_stretch == 1.0
    assert rejected.advised.filled_qty == 0 and rejected.baseline.filled_qty > 0
    assert rejected.advised.end_mid == rejected.baseline.end_mid
