"""The passive-fill rule: a tightened regime turns the order passive only when the state's fill_hazard
says a child joining the touch is likely to fill; otherwise it keeps the baseline's order type and
the rest of the tightening."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from consumers.advisor.advisor import (
    AdverseSelectionConfig,
    AdvisorConfig,
    Decision,
    PassiveFillConfig,
    advise,
    passive_fill_probability,
)
from consumers.advisor.policy import BaselinePolicy, is_within
from streams.timeutil import format_ts_ns

S = 1_000_000_000
T0 = 1_767_000_000 * S


def _state(t_s: float, **kw: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "symbol": "NVDA", "event_ts": format_ts_ns(T0 + round(t_s * S)), "spread_bps": 2.0,
        "depth_top5_usd": 250_000.0, "order_flow_imbalance": 0.1, "latency_ms_estimate": 20.0, "fill_hazard": 0.4,
        "liquidity_regime": "compressed", "crumbling_quote_probability": 0.55, "realized_volatility_bps": 1.0,
    }
    value.update(kw)
    return value


def _illiquid(cfg: AdvisorConfig, **kw: Any) -> Decision:
    """The decision after 5 s of compressed states (the liquidity axis escalates after its 2 s dwell)."""
    controller = None
    decision = None
    for t in range(6):
        controller, decision = advise(_state(float(t), **kw), controller, T0 + t * S, None, cfg)
    assert decision is not None and decision.fallback_reason is None
    assert decision.friction_regime == "calm_illiquid"
    return decision


def test_fill_probability_is_rescaled_with_the_exponential_model() -> None:
    assert passive_fill_probability(0.4, 60.0, 60.0) == pytest.approx(0.4)
    assert passive_fill_probability(0.5, 60.0, 120.0) == pytest.approx(0.75)  # survive two horizons: 0.5^2
    assert passive_fill_probability(0.5, 60.0, 30.0) == pytest.approx(1 - math.sqrt(0.5))
    assert passive_fill_probability(0.0, 60.0, 600.0) == 0.0
    assert passive_fill_probability(1.0, 60.0, 1.0) == 1.0


def test_low_fill_hazard_keeps_the_baseline_order_type_and_the_other_tightening() -> None:
    cfg = AdvisorConfig()
    threshold = cfg.passive.min_fill_probability
    assert 0.0 < threshold < 1.0
    low = _illiquid(cfg, fill_hazard=threshold - 0.05)
    high = _illiquid(cfg, fill_hazard=threshold + 0.05)
    limits = cfg.friction.calm_illiquid
    assert limits.order_type == "limit"
    assert high.advice.preferred_order_type == "limit"
    assert low.advice.preferred_order_type == cfg.baseline.order_type == "market"
    for d in (low, high):  # participation, urgency, turnover and offset: the regime's, in both
        assert d.advice.max_participation_rate == pytest.approx(limits.participation_ceiling)
        assert d.advice.max_participation_rate < cfg.baseline.max_participation_rate
        assert d.advice.turnover_budget == pytest.approx(limits.turnover_budget)
        assert d.advice.quote_offset_bps == limits.quote_offset_bps
        assert d.override_reason == "calm_illiquid"
        assert is_within(d.advice, cfg.baseline)
    # switched off (threshold 0), the regime's passive type whatever the hazard
    off = replace(cfg, passive=PassiveFillConfig(min_fill_probability=0.0))
    assert _illiquid(off, fill_hazard=0.0).advice.preferred_order_type == "limit"


def test_the_hazard_is_read_over_its_published_horizon() -> None:
    cfg = replace(AdvisorConfig(), passive=PassiveFillConfig(min_fill_probability=0.65, reference_horizon_s=60.0))
    # 0.5 over 120 s is 0.29 over 60 s (market); 0.5 over 15 s is 0.94 over 60 s (limit)
    assert _illiquid(cfg, fill_hazard=0.5, fill_hazard_horizon_s=120.0).advice.preferred_order_type == "market"
    assert _illiquid(cfg, fill_hazard=0.5, fill_hazard_horizon_s=15.0).advice.preferred_order_type == "limit"
    # absent or unusable: the schema's 60 s, and never a fallback (Torghut's client validates with parse_state)
    for junk in (None, "x", -1.0, 0.0, float("nan"), True):
        d = _illiquid(cfg, fill_hazard=0.7, fill_hazard_horizon_s=junk)
        assert d.advice.preferred_order_type == "limit"
        assert _illiquid(cfg, fill_hazard=0.6, fill_hazard_horizon_s=junk).advice.preferred_order_type == "market"


def test_adverse_selection_still_makes_the_order_passive() -> None:
    cfg = replace(AdvisorConfig(), adverse=AdverseSelectionConfig(bias=5.0))  # risk above 0.5 everywhere
    d = _illiquid(cfg, fill_hazard=0.0)
    assert d.adverse_selection_risk > cfg.adverse.limit_threshold
    assert d.advice.preferred_order_type == "limit" and d.override_reason == "adverse_selection"


def test_a_limit_only_baseline_stays_limit_when_the_hazard_is_low() -> None:
    base = BaselinePolicy(order_type="limit", allowed_order_types=("limit",))
    cfg = replace(AdvisorConfig(), baseline=base)
    d = _illiquid(cfg, fill_hazard=0.0)
    assert d.advice.preferred_order_type == "limit" and is_within(d.advice, base)


@pytest.mark.parametrize("kw", [{"min_fill_probability": -0.1}, {"min_fill_probability": 1.5},
                                {"min_fill_probability": float("nan")}, {"reference_horizon_s": 0.0},
                                {"reference_horizon_s": float("inf")}])
def test_passive_fill_config_is_validated(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdvisorConfig(passive=PassiveFillConfig(**kw)).validate()
