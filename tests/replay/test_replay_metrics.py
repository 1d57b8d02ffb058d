"""Report numbers against hand computation: Torghut's arithmetic, percentiles, and the pass/fail edges."""

from __future__ import annotations

import math

import pytest

from microexec.replay.metrics import (
    ArmSummary,
    criteria,
    fill_kept,
    fill_within,
    lower_by,
    percentile,
    reduction,
    regime_table,
    summarize,
)
from microexec.replay.outcomes import ArmOutcome, PairOutcome, rejected_arm


def arm(avg: float, filled: int, qty: int = 100, arrival: float = 100.0, end: float = 100.0, d: int = 1) -> ArmOutcome:
    return ArmOutcome(qty, filled, avg if filled else math.nan, arrival, end, d)


def pair(regime: str, base: ArmOutcome, adv: ArmOutcome, k: int = 0, applied: bool = True) -> PairOutcome:
    return PairOutcome(f"o{k}", "X", "buy" if base.direction == 1 else "sell", base.quantity, k, 60.0, regime,
                       regime, applied, None if applied else "missing_state", 0.2, None, base, adv)


def test_torghut_arithmetic_by_hand() -> None:
    buy = arm(100.10, 100)  # paid 10 cents over a 100.00 arrival
    assert buy.slippage_bps == pytest.approx(10.0)
    assert buy.shortfall_notional == pytest.approx(10.0)  # 0.10 * 100 shares
    sell = ArmOutcome(50, 40, 99.95, 100.0, 99.0, -1)  # sold 5 cents under arrival: a cost of 5 bps
    assert sell.slippage_bps == pytest.approx(5.0)
    assert sell.shortfall_notional == pytest.approx(2.0)  # -1 * (99.95 - 100) * 40
    # 10 unfilled shares of a sell while the price fell 1.00: opportunity cost -1 * (99 - 100) * 10 = 10
    assert sell.opportunity_notional == pytest.approx(10.0)
    # fees 1 bp on 99.95 * 40 = 0.3998
    assert sell.net_pnl(fee_bps=1.0) == pytest.approx(-(2.0 + 10.0 + 0.3998))
    assert math.isnan(arm(0, 0).slippage_bps) and arm(0, 0).shortfall_notional == 0.0


def test_full_shortfall_matches_the_paper_executors() -> None:
    from microexec.replay.run import arm as to_arm
    from producers.paper.orders import PaperOrder
    from producers.paper.policy_map import PaperConfig, baseline_policy
    from producers.paper.split_book import execute_pair, full_shortfall_bps, order_seed
    from simulator.market.model import illustrative_model

    order = PaperOrder("o", "X", "sell", 3000, 30.0, "t", 0)  # large enough to leave some unfilled
    policy = baseline_policy(PaperConfig())
    result, _ = execute_pair(illustrative_model(), order, policy, policy, order_seed(1, order))
    assert 0 < result.filled_qty < order.quantity
    assert to_arm(order, result).full_shortfall_bps == pytest.approx(full_shortfall_bps(order, result))
    # by hand: a buy of 100, 60 filled at 100.10, 40 left while the mid went to 100.50
    a = ArmOutcome(100, 60, 100.10, 100.0, 100.50, 1)
    assert a.full_shortfall_bps == pytest.approx((0.10 * 60 + 0.50 * 40) / (100 * 100.0) * 1e4)


def test_unit_scales_notionals_not_bps() -> None:
    btc = ArmOutcome(1000, 1000, 60_001.0, 60_000.0, 60_000.0, 1, unit=1e-5)
    assert btc.slippage_bps == pytest.approx(1 / 60_000 * 1e4)
    assert btc.shortfall_notional == pytest.approx(1.0 * 1000 * 1e-5)


def test_rejected_arm_fills_nothing_and_pays_the_move() -> None:
    base = arm(100.05, 100, end=101.0)
    rej = rejected_arm(base)
    assert rej.rejected and rej.filled_qty == 0 and math.isnan(rej.slippage_bps)
    assert rej.net_pnl() == pytest.approx(-(1.0 * 100))  # the whole order missed a 1.00 rise


def test_percentile_is_numpy_linear() -> None:
    # rank 0.95 * 4 = 3.8 between 4 and 10: 4 + 0.8 * 6
    assert percentile([10, 1, 3, 2, 4, math.nan], 95) == pytest.approx(8.8)
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([math.nan], 50))


def test_summary_by_hand() -> None:
    arms = [arm(100.01, 100), arm(100.03, 50), arm(0, 0, qty=50), arm(99.99, 100)]
    s = summarize(arms)
    assert s.orders == 4 and s.filled_orders == 3
    assert s.fill_rate == pytest.approx(250 / 350)  # shares: 100 + 50 + 0 + 100 of 100 + 100 + 50 + 100
    assert s.mean_slippage_bps == pytest.approx((1 + 3 - 1) / 3)
    # sorted [-1, 1, 3]: rank 0.95 * 2 = 1.9 -> 1 + 0.9 * 2
    assert s.p95_shortfall_bps == pytest.approx(2.8)
    assert s.worst_shortfall_bps == pytest.approx(3.0)
    assert s.risk_rejections == 0
    assert s.net_pnl == pytest.approx(-(1.0 + 1.5 + 0.0 - 1.0))
    # whole-order shortfall per order: 1.0, 1.5, 0 (nothing filled, mid unchanged), -1.0 bps of 100 x 100.00
    assert s.mean_full_shortfall_bps == pytest.approx((1.0 + 1.5 + 0.0 - 1.0) / 4)


def _summary(mean: float, p95: float, fill: float, rej: int = 0) -> ArmSummary:
    return ArmSummary(10, 10, fill, mean, mean, p95, p95, p95, 0.0, 0.0, 0.0, rej)


@pytest.mark.parametrize(("base", "adv", "frac", "ok"), [
    (10.0, 8.0, 0.20, True),  # exactly 20% lower passes
    (10.0, 8.001, 0.20, False),
    (-10.0, -12.0, 0.20, True),  # a negative (gaining) baseline: lower still means by 20% of its size
    (-10.0, -11.9, 0.20, False),
    (8.0, 6.0, 0.25, True),
    (8.0, 6.01, 0.25, False),
    (0.0, 0.0, 0.20, True),
    (0.0, 0.1, 0.20, False),
    (math.nan, 1.0, 0.20, False),
])
def test_lower_by_edges(base: float, adv: float, frac: float, ok: bool) -> None:
    assert lower_by(base, adv, frac) is ok


def test_criteria_edges() -> None:
    regimes = regime_table([pair("calm", arm(100.05, 100, d=1), arm(100.02, 100), k) for k in range(6)])
    good = criteria(_summary(10.0, 20.0, 0.50), _summary(8.0, 15.0, 0.48), regimes)
    assert [c.name for c in good] == ["mean_slippage", "p95_shortfall", "fill_rate", "risk_rejections",
                                      "stable_across_regimes"]
    assert all(c.passed for c in good)
    assert good[0].figure == pytest.approx(0.2) and good[1].figure == pytest.approx(0.25)
    assert good[2].figure == pytest.approx(-2.0)
    bad = criteria(_summary(10.0, 20.0, 0.50), _summary(8.1, 15.1, 0.4799, rej=1), regimes)
    assert [c.passed for c in bad] == [False, False, False, False, True]
    assert reduction(10.0, 8.1) == pytest.approx(0.19)
    assert math.isnan(reduction(0.0, 1.0))


def test_regime_table_sufficiency_and_losses() -> None:
    pairs = [pair("calm", arm(100.05, 100), arm(100.02, 100), k) for k in range(6)]
    # stressed: advisor cheaper on what it filled but left half unfilled into a 2.00 rise: loses on PnL
    pairs += [pair("stressed", arm(100.05, 100, end=102.0), arm(100.01, 50, end=102.0), 10 + k) for k in range(6)]
    pairs += [pair("normal", arm(100.05, 100), arm(100.09, 100), 20 + k) for k in range(5)]  # 5: too few
    rows = {r.regime: r for r in regime_table(pairs)}
    calm, stressed, normal = rows["calm"], rows["stressed"], rows["normal"]
    assert calm.sufficient and calm.advisor_wins and calm.why == ""
    assert calm.delta_mean_bps == pytest.approx(-3.0) and calm.baseline_mean_bps == pytest.approx(5.0)
    assert stressed.advisor_wins is False and stressed.why == "fill rate -50.0 pp, net-after-cost PnL"
    assert stressed.advised_net_pnl == pytest.approx(6 * -(0.5 + 100.0))
    assert normal.paired == 5 and not normal.sufficient and normal.advisor_wins is None
    crit = criteria(summarize([p.baseline for p in pairs]), summarize([p.advised for p in pairs]),
                    regime_table(pairs))[-1]
    assert not crit.passed and "stressed (fill rate -50.0 pp, net-after-cost PnL)" in crit.detail
    assert "normal" in crit.detail


def test_regime_lost_on_fill_rate_alone_and_at_the_edge() -> None:
    # cheaper and better PnL, but 3 points less filled: a loss; exactly 2 points: not a loss
    three = [pair("calm", arm(100.05, 100), arm(100.02, 97), k) for k in range(6)]
    two = [pair("calm", arm(100.05, 100), arm(100.02, 98), k) for k in range(6)]
    assert regime_table(three)[0].why == "fill rate -3.0 pp"
    assert regime_table(two)[0].advisor_wins is True
    # filling *more* is no loss (the goal is one-sided: the advisor must not look cheaper by not trading)
    more = [pair("calm", arm(100.05, 97), arm(100.02, 100), k) for k in range(6)]
    assert regime_table(more)[0].advisor_wins is True


def test_fill_criterion_is_one_sided_and_reports_the_symmetric_reading() -> None:
    regimes = regime_table([pair("calm", arm(100.05, 100, d=1), arm(100.02, 100), k) for k in range(6)])
    more = criteria(_summary(10.0, 20.0, 0.50), _summary(8.0, 15.0, 0.55), regimes)[2]
    assert more.passed and more.figure == pytest.approx(5.0) and "symmetric reading (within 2 either way): fail" \
        in more.detail
    near = criteria(_summary(10.0, 20.0, 0.50), _summary(8.0, 15.0, 0.51), regimes)[2]
    assert near.passed and near.detail.endswith("either way): pass")
    less = criteria(_summary(10.0, 20.0, 0.50), _summary(8.0, 15.0, 0.4799), regimes)[2]
    assert not less.passed and less.detail.endswith("either way): fail")
    assert fill_kept(0.5, 0.48) and not fill_kept(0.5, 0.4799) and fill_kept(0.5, 0.9)
    assert fill_within(0.5, 0.52) and not fill_within(0.5, 0.5201) and not fill_kept(math.nan, 0.5)


def test_stable_criterion_fails_without_any_judged_regime() -> None:
    pairs = [pair("calm", arm(100.05, 100), arm(100.02, 100), k) for k in range(3)]
    last = criteria(summarize([p.baseline for p in pairs]), summarize([p.advised for p in pairs]),
                    regime_table(pairs))[-1]
    assert not last.passed
