"""The Torghut-facing view of a ``microstructure_state_v1`` record: the fields the advice is made of,
validated.

Why in the domain package: it is the state record's contract as its readers see it. The advisor
decides from it, and Torghut's client library (torghut_client.book) validates every state it is
given with the same function, so the library depends on the record's contract, not on a consumer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.timeutil import TimestampError, parse_ts_ns

LIQUIDITY_REGIMES = ("normal", "compressed", "stressed")
DEFAULT_FILL_HAZARD_HORIZON_S = 60.0  # schemas/microstructure_state_v1.avsc default


@dataclass(frozen=True, slots=True)
class StateView:
    """The validated fields of a microstructure_state_v1 record that the advisor uses."""

    symbol: str
    event_ts_ns: int
    spread_bps: float
    depth_top5_usd: float
    order_flow_imbalance: float
    latency_ms_estimate: float
    fill_hazard: float
    fill_hazard_horizon_s: float
    liquidity_regime: str
    crumbling: float | None
    realized_volatility_bps: float | None


class InvalidState(ValueError):
    def __init__(self, field_name: str) -> None:
        super().__init__(field_name)
        self.field_name = field_name


def _num(state: Mapping[str, Any], name: str, lo: float | None = None, hi: float | None = None,
         optional: bool = False) -> float | None:
    value = state.get(name)
    if value is None and optional:
        return None
    if isinstance(value, str):  # Torghut's JSON view uses decimal strings
        try:
            value = float(value)
        except ValueError:
            raise InvalidState(name) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidState(name)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidState(name)
    return float(value)


def _req(state: Mapping[str, Any], name: str, lo: float | None = None, hi: float | None = None) -> float:
    value = _num(state, name, lo, hi)
    if value is None:
        raise InvalidState(name)
    return value


def _horizon(state: Mapping[str, Any]) -> float:
    """``fill_hazard_horizon_s``, or the schema's default (60 s) when it is absent or unusable.

    Lenient on purpose: the horizon only decides whether the advisor's passive proposal falls back
    to the baseline's order type (never a loosening either way), and parse_state is also Torghut's
    client validation (torghut_client.book), which must not start refusing states over this field."""
    try:
        value = _num(state, "fill_hazard_horizon_s", optional=True)
    except InvalidState:
        return DEFAULT_FILL_HAZARD_HORIZON_S
    return value if value is not None and value > 0 else DEFAULT_FILL_HAZARD_HORIZON_S


def parse_state(state: Mapping[str, Any]) -> StateView:
    """Validate a decoded state record; raises InvalidState naming the first bad field."""
    symbol = state.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidState("symbol")
    event_ts = state.get("event_ts")
    if not isinstance(event_ts, str):
        raise InvalidState("event_ts")
    try:
        ts = parse_ts_ns(event_ts)
    except TimestampError:
        raise InvalidState("event_ts") from None
    regime = state.get("liquidity_regime")
    if regime not in LIQUIDITY_REGIMES:
        raise InvalidState("liquidity_regime")
    return StateView(
        symbol=symbol,
        event_ts_ns=ts,
        spread_bps=_req(state, "spread_bps", lo=0.0),
        depth_top5_usd=_req(state, "depth_top5_usd", lo=0.0),
        order_flow_imbalance=_req(state, "order_flow_imbalance", lo=-1.0, hi=1.0),
        latency_ms_estimate=_req(state, "latency_ms_estimate", lo=0.0),
        fill_hazard=_req(state, "fill_hazard", lo=0.0, hi=1.0),
        fill_hazard_horizon_s=_horizon(state),
        liquidity_regime=str(regime),
        crumbling=_num(state, "crumbling_quote_probability", lo=0.0, hi=1.0, optional=True),
        realized_volatility_bps=_num(state, "realized_volatility_bps", lo=0.0, optional=True),
    )
