"""Inputs of the TCA consumer for tests: one order's Torghut trade updates (Alpaca shapes, decimal
strings), its shortfall distribution and microstructure state records as their Avro dicts.

Why a builder: the unit tests (every arrival order), the integration test (real broker) and any
later replay test must feed the same, exactly Torghut-shaped lifecycle, with the order's cumulative
``filled_qty``/``filled_avg_price`` consistent with its per-fill updates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from producers.torghut_envelopes import quote_envelope, trade_update_envelope
from streams.timeutil import format_ts_ns

NS = 1_000_000_000
MS = 1_000_000


@dataclass
class OrderSpec:
    order_id: str
    symbol: str
    side: str
    qty: float
    submitted_ns: int
    fills: list[tuple[int, float, float]]  # (event ts ns, price, qty), in event-time order
    completion: str = "fill"  # the event that ends the order; "fill" is the last fill itself
    completion_ns: int | None = None  # for a non-fill completion
    limit_price: float | None = None
    order_type: str = "limit"
    label: str = "advisor"
    extra: dict[str, Any] = field(default_factory=dict)


def order_updates(spec: OrderSpec) -> list[dict[str, Any]]:
    """``new``, then each fill (``partial_fill``; the last one ``fill`` when the order completes by
    filling), then the completion event when it is not a fill. Cumulative quantities and average
    prices are computed as the broker reports them."""
    common: dict[str, Any] = {
        "order_id": spec.order_id, "side": spec.side, "order_type": spec.order_type, "qty": spec.qty,
        "submitted_at_ns": spec.submitted_ns, "limit_price": spec.limit_price, "account_label": spec.label}
    out = [trade_update_envelope(spec.symbol, spec.submitted_ns + 5 * MS, "new", **common)]
    cum_qty = cum_notional = 0.0
    for i, (ts, price, qty) in enumerate(spec.fills):
        cum_qty += qty
        cum_notional += price * qty
        last = i == len(spec.fills) - 1
        event = "fill" if last and spec.completion == "fill" else "partial_fill"
        env = trade_update_envelope(spec.symbol, ts, event, filled_qty=cum_qty, fill_price=price, fill_qty=qty,
                                    seq=i + 1, **common)
        env["payload"]["order"]["filled_avg_price"] = str(round(cum_notional / cum_qty, 6))
        out.append(env)
    if spec.completion != "fill":
        assert spec.completion_ns is not None
        env = trade_update_envelope(spec.symbol, spec.completion_ns, spec.completion, filled_qty=cum_qty,
                                    seq=len(spec.fills) + 1, **common)
        env["payload"]["order"]["filled_avg_price"] = str(round(cum_notional / cum_qty, 6)) if cum_qty else None
        out.append(env)
    return out


def quote(symbol: str, ts_ns: int, bid: float, ask: float) -> dict[str, Any]:
    return quote_envelope(symbol, ts_ns, bid, 500.0, ask, 700.0)


def shortfall(order_id: str, symbol: str, side: str, qty: float, event_ts_ns: int, p50: float, p95: float, *,
              reference: bool = False, regime: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``shortfall_distribution_v1`` record (every field, so it encodes as Avro)."""
    value: dict[str, Any] = {
        "order_id": order_id, "symbol": symbol, "side": side, "quantity": qty, "horizon_s": 60.0,
        "event_ts": format_ts_ns(event_ts_ns), "n_paths": 512, "shortfall_bps_p5": p50 - 3.0,
        "shortfall_bps_p50": p50, "shortfall_bps_p95": p95, "shortfall_bps_mean": p50 + 0.5,
        "fill_ratio_mean": 1.0, "digest": "0" * 64, "simulator_version": "sim-test/1",
        "calibration_id": None, "liquidity_regime": regime, "is_reference_order": reference,
    }
    value.update(extra)
    return value


def state_record(symbol: str, ts_ns: int, regime: str) -> dict[str, Any]:
    """A ``microstructure_state_v1`` record with the given liquidity regime."""
    return {
        "schema_version": "microstructure_state_v1", "symbol": symbol, "event_ts": format_ts_ns(ts_ns),
        "spread_bps": 2.0, "depth_top5_usd": 1_500_000.0, "order_flow_imbalance": 0.1,
        "latency_ms_estimate": 40.0, "fill_hazard": 0.5, "liquidity_regime": regime,
        "crumbling_quote_probability": None, "mechanical_liquidity_withdrawal_probability": None,
        "depth_source": "top_of_book", "latency_source": "none", "fill_hazard_horizon_s": 60.0,
        "bid_price": None, "ask_price": None, "mid_price": None, "realized_volatility_bps": None,
        "emit_reason": "first", "source_topic": None, "source_partition": None, "source_offset": None,
        "producer_version": "test",
    }
