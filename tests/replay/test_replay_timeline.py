"""The advice in force at an arrival: only records at or before it, Torghut's client rules, the regime."""

from __future__ import annotations

from typing import Any

from microexec.replay.timeline import TimedRecord, Timeline, arrivals, build_timeline
from producers.lobster import lobster_records
from streams.timeutil import format_ts_ns
from tests.support.data import DATA_DIR
from torghut_client import BaselineOrder, Coordinates

S = 1_000_000_000
AMZN = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"


def state(ts: int, regime: str) -> dict[str, Any]:
    return {"symbol": "X", "event_ts": format_ts_ns(ts), "spread_bps": 3.0, "depth_top5_usd": 1e6,
            "order_flow_imbalance": 0.1, "latency_ms_estimate": 5.0, "fill_hazard": 0.5, "liquidity_regime": regime}


def advice(ts: int, participation: float, risk: float = 0.2) -> dict[str, Any]:
    return {"symbol": "X", "event_ts": format_ts_ns(ts), "urgency_tier": "low", "max_participation_rate": participation,
            "preferred_order_type": "limit", "quote_offset_bps": 0.0, "adverse_selection_risk": risk,
            "latency_ms": 1.0, "fallback_reason": None}


def rec(ts: int, kind: str, value: dict[str, Any], k: int) -> TimedRecord:
    return TimedRecord(ts, kind, "X", value, Coordinates(kind, 0, k))


def test_only_what_was_known_at_arrival_applies() -> None:
    t0 = 1_700_000_000 * S
    tl = Timeline([rec(t0, "state", state(t0, "normal"), 0), rec(t0, "advice", advice(t0, 0.04), 0),
                   rec(t0 + 10 * S, "state", state(t0 + 10 * S, "stressed"), 1),
                   rec(t0 + 10 * S, "advice", advice(t0 + 10 * S, 0.02, risk=0.9), 1)], 0)
    base = BaselineOrder(0.10, "market")
    # asked out of time order: the answers come back in the order asked
    got = arrivals(tl, [("X", t0 + 12 * S), ("X", t0 - 1), ("X", t0 + 9 * S), ("X", t0 + 40 * S), ("Y", t0 + S)], base)
    late, early, mid, stale, other = got
    assert early.applied.fallback_reason == "missing_state" and early.regime == "no_state"
    assert mid.applied.applied and mid.applied.participation_rate == 0.04 and mid.applied.order_type == "limit"
    assert mid.regime == "normal" and not mid.applied.risk_rejected  # the t0+10 s records are not yet known
    assert late.regime == "stressed" and late.applied.participation_rate == 0.02 and late.applied.risk_rejected
    assert stale.applied.fallback_reason == "stale_state" and stale.regime == "no_state"
    assert other.applied.fallback_reason == "missing_state"


def test_timeline_runs_the_real_processors_in_event_time() -> None:
    tl = build_timeline(list(lobster_records(AMZN, limit=1500)))
    assert tl.count("state") > 0 and tl.count("advice") == tl.count("state") and tl.dead_letters == 0
    times = [r.ts_ns for r in tl.records]
    assert times == sorted(times)
    first_advice = next(r for r in tl.records if r.kind == "advice")
    first_state = next(r for r in tl.records if r.kind == "state")
    assert tl.records.index(first_state) < tl.records.index(first_advice)
    assert first_advice.value["input_offset"] == 0  # it was computed from the first state record
