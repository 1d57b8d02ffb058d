"""Baseline intersection and the FrictionRegimeController, on hand-built inputs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from consumers.advisor import friction
from consumers.advisor.friction import FrictionConfig
from consumers.advisor.policy import Advice, BaselinePolicy, baseline_advice, intersect, is_within

S = 1_000_000_000
T0 = 1_767_000_000 * S


def test_intersection_takes_the_tighter_side_of_every_field() -> None:
    base = BaselinePolicy(max_participation_rate=0.08, order_type="market", allowed_order_types=("market", "limit"),
                          max_quote_offset_bps=2.0, urgency_tier="normal", max_turnover_budget=0.2)
    looser = Advice(0.5, "stop", 10.0, "high", 0.9)
    assert intersect(looser, base) == Advice(0.08, "limit", 2.0, "normal", 0.2)
    tighter = Advice(0.03, "limit", 0.5, "low", 0.05)
    assert intersect(tighter, base) == tighter
    assert is_within(intersect(looser, base), base) and not is_within(looser, base)


def test_limit_only_baseline_never_gets_market() -> None:
    base = BaselinePolicy(order_type="limit", allowed_order_types=("limit",))
    assert intersect(Advice(0.01, "market", 0.0, "low", 0.0), base).preferred_order_type == "limit"
    # a market-only baseline cannot be advised a type it does not allow: it keeps market
    market_only = BaselinePolicy(order_type="market", allowed_order_types=("market",))
    assert intersect(Advice(0.01, "limit", 0.0, "low", 0.0), market_only).preferred_order_type == "market"


def test_garbage_proposals_fall_back_to_the_bounds() -> None:
    base = BaselinePolicy()
    out = intersect(Advice(math.nan, "yolo", -3.0, "panic", math.inf), base)
    assert out == Advice(base.max_participation_rate, "limit", 0.0, "low", base.max_turnover_budget)
    assert is_within(out, base)


def test_baseline_validation() -> None:
    BaselinePolicy().validate()
    for bad in (BaselinePolicy(max_participation_rate=1.5), BaselinePolicy(order_type="limit",
                allowed_order_types=("market",)), BaselinePolicy(urgency_tier="max"),
                BaselinePolicy(max_quote_offset_bps=math.nan)):
        with pytest.raises(ValueError):
            bad.validate()
    assert is_within(baseline_advice(BaselinePolicy()), BaselinePolicy())


def _run(cfg: FrictionConfig, obs: Sequence[tuple[float, float | None, str, float]]) -> list[friction.FrictionDecision]:
    ctl = friction.new_controller_state()
    out = []
    for t_s, vol, regime, spread in obs:
        ctl, decision = friction.step(ctl, T0 + int(t_s * S), vol, regime, spread, cfg)
        out.append(decision)
    return out


def test_liquidity_axis_dwell_and_capped_ceiling_slope() -> None:
    cfg = FrictionConfig()
    obs = [(0.5 * i, None, "normal", 2.0) for i in range(0, 20)]  # 0 .. 9.5 s calm and liquid
    obs += [(10.0 + 0.5 * i, None, "compressed", 2.0) for i in range(0, 12)]  # 10 .. 15.5 s illiquid
    decisions = _run(cfg, obs)
    regimes = [d.regime for d in decisions]
    assert regimes[:24] == ["calm_liquid"] * 24  # indicated from 10.0 s, dwell 2 s
    assert regimes[24] == "calm_illiquid"  # the 12.0 s observation
    ceilings = [d.participation_ceiling for d in decisions[23:]]
    # target 0.05 from 12.0 s; at most 0.02/s down, observations 0.5 s apart: 0.10, 0.09, 0.08, ...
    assert ceilings[:5] == pytest.approx([0.10, 0.09, 0.08, 0.07, 0.06])
    assert ceilings[5:] == pytest.approx([0.05] * (len(ceilings) - 5))


def test_one_observation_spike_does_not_switch_and_relaxing_is_slow() -> None:
    cfg = FrictionConfig()
    obs = [(0.5 * i, None, "normal", 2.0) for i in range(10)]
    obs += [(5.0, None, "normal", 20.0)]  # one wide spread (>= 8 bps)
    obs += [(5.5 + 0.5 * i, None, "normal", 2.0) for i in range(10)]
    assert {d.regime for d in _run(cfg, obs)} == {"calm_liquid"}
    # sustained wide spread, then back to normal: up after 2 s, back after 10 s; the ceiling then
    # climbs at 0.005/s
    obs = [(float(i), None, "normal", 10.0 if 10 <= i < 20 else 2.0) for i in range(60)]
    decisions = _run(cfg, obs)
    switches = [(i, d.regime) for i, d in enumerate(decisions) if i and d.regime != decisions[i - 1].regime]
    assert switches == [(12, "calm_illiquid"), (30, "calm_liquid")]
    # down at 0.02/s: 0.08 at 12 s, 0.06 at 13 s, 0.05 from 14 s
    assert [d.participation_ceiling for d in decisions[12:15]] == pytest.approx([0.08, 0.06, 0.05])
    # up at 0.005/s from the switch at 30 s: 0.055, 0.06, ... 0.095 at 38 s, target 0.10 at 39 s
    assert decisions[30].participation_ceiling == pytest.approx(0.055)
    assert decisions[38].participation_ceiling == pytest.approx(0.095)
    assert decisions[39].participation_ceiling == pytest.approx(0.10)


def test_volatility_axis_against_its_own_baseline() -> None:
    cfg = FrictionConfig()
    obs = [(float(i), 2.0, "normal", 2.0) for i in range(120)]  # baseline 2 bps/sqrt(s)
    obs += [(float(120 + i), 4.0, "normal", 2.0) for i in range(10)]  # ratio ~2 >= 1.5
    decisions = _run(cfg, obs)
    assert decisions[119].regime == "calm_liquid" and decisions[119].vol_ratio == pytest.approx(1.0)
    assert decisions[121].regime == "calm_liquid"
    assert decisions[122].regime == "volatile_liquid"  # indicated at 120 s, dwell 2 s
    # without a warm baseline, the axis keeps its reading
    assert _run(cfg, [(0.0, 2.0, "normal", 2.0), (1.0, 50.0, "normal", 2.0)])[1].vol_ratio is None


def test_volatile_illiquid_uses_its_wide_book_limits_only_at_a_very_wide_spread() -> None:
    cfg = FrictionConfig()
    warm = [(float(i), 2.0, "stressed", 10.0) for i in range(120)]  # illiquid, volatility baseline 2
    for spread, expected in ((10.0, cfg.volatile_illiquid), (cfg.wide_spread_bps, cfg.volatile_illiquid_wide)):
        decisions = _run(cfg, [*warm, *((float(120 + i), 4.0, "stressed", spread) for i in range(6))])
        assert decisions[-1].regime == "volatile_illiquid" and decisions[-1].limits == expected
    assert cfg.volatile_illiquid_wide != cfg.volatile_illiquid
    with pytest.raises(ValueError):
        FrictionConfig(wide_spread_bps=0.0).validate()


def test_controller_state_from_an_older_layout_is_upgraded() -> None:
    old = {"vol": 0, "liq": 1, "ceil": 0.05, "ceil_t": T0}  # missing keys, no layout version
    ctl, decision = friction.step(old, T0 + S, None, "compressed", 2.0, FrictionConfig())
    assert ctl["v"] == friction.CONTROLLER_LAYOUT_VERSION and decision.regime == "calm_illiquid"
    assert decision.participation_ceiling == pytest.approx(0.05)
