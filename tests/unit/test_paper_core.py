"""The paper split-book core: seeded orders, advice that only tightens, one market seed for both arms."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.paper.orders import generate_orders
from producers.paper.policy_map import (
    MAX_STRETCH,
    PaperConfig,
    advised_execution,
    advised_policy,
    baseline_policy,
    no_looser,
)
from producers.paper.split_book import execute_pair, full_shortfall_bps, order_seed, trade_updates
from producers.simulated_market.symbols import symbol_model
from torghut_client import AppliedAdvice
from torghut_domain.envelopes import parse_trade_update

S = 1_000_000_000
SYMS = ["AMZN", "SIM01", "SIM02"]


def test_generate_orders_is_seeded_and_respects_the_window() -> None:
    a = generate_orders(3, SYMS, 10 * S, 610 * S, 40)
    assert a == generate_orders(3, SYMS, 10 * S, 610 * S, 40)
    assert a != generate_orders(4, SYMS, 10 * S, 610 * S, 40)
    assert len({o.order_id for o in a}) == 40
    assert [o.submitted_ns for o in a] == sorted(o.submitted_ns for o in a)
    for o in a:
        assert o.submitted_ns >= 10 * S and o.end_ns <= 610 * S
        assert o.symbol in SYMS and o.side in ("buy", "sell") and o.quantity % 10 == 0


applied_advice = st.builds(
    AppliedAdvice,
    symbol=st.just("AMZN"),
    applied=st.booleans(),
    fallback_reason=st.none(),
    participation_rate=st.floats(min_value=0.0, max_value=1.0),
    order_type=st.sampled_from(["market", "limit", "stop", "stop_limit"]),
    urgency_tier=st.one_of(st.none(), st.sampled_from(["low", "normal", "high", "bogus"])),
    quote_offset_bps=st.one_of(st.none(), st.floats(min_value=-50, max_value=50)),
    adverse_selection_risk=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    risk_rejected=st.booleans(),
)
configs = st.builds(PaperConfig, participation_rate=st.floats(min_value=0.01, max_value=1.0),
                    order_type=st.sampled_from(["market", "limit"]),
                    urgency=st.sampled_from(["low", "normal", "high"]),
                    quote_offset_bps=st.floats(min_value=-5, max_value=20),
                    finish_marketable=st.booleans())


@settings(max_examples=2000, deadline=None)
@given(applied_advice, configs)
def test_advised_policy_is_never_looser_than_baseline(applied: AppliedAdvice, cfg: PaperConfig) -> None:
    base = baseline_policy(cfg)
    adv = advised_policy(applied, cfg)
    assert no_looser(adv, base)
    assert adv.participation_cap >= min(cfg.participation_floor, base.participation_cap)
    if not applied.applied:
        assert adv == base
    stretched, stretch = advised_execution(applied, cfg)
    assert 1.0 <= stretch <= MAX_STRETCH and no_looser(stretched, base, stretch)
    if not applied.applied:
        assert (stretched, stretch) == (base, 1.0)


def test_no_looser_catches_each_loosening() -> None:
    base = baseline_policy(PaperConfig(order_type="limit", quote_offset_bps=2.0))
    assert no_looser(base, base)
    assert not no_looser(replace(base, participation_cap=0.2), base)
    assert not no_looser(replace(base, order_type="marketable"), base)
    assert not no_looser(replace(base, quote_offset_bps=1.0), base)
    assert not no_looser(replace(base, urgency_schedule=((0.0, "high"),)), base)
    assert not no_looser(replace(base, finish_marketable=True), base)
    assert not no_looser(base, base, stretch=MAX_STRETCH + 0.5)  # more time than Torghut gives
    fast = replace(base, urgency_schedule=((0.0, "high"),), order_type="passive")
    assert not no_looser(fast, replace(base, urgency_schedule=((0.0, "low"),)), stretch=3.0)  # 2/3 > 0.5


def test_stretch_is_the_slow_down_of_the_tightening_and_low_becomes_time() -> None:
    cfg = PaperConfig()
    def run(rate: float, tier: str) -> tuple[str, float]:
        p, s = advised_execution(AppliedAdvice("AMZN", True, None, rate, "limit", tier, 0.0, 0.2, False), cfg)
        return p.urgency_schedule[0][1], s
    assert run(0.10, "normal") == ("normal", 1.0)  # passive conversion alone stretches nothing
    assert run(0.05, "normal") == ("normal", 2.0)  # half the cap: twice the time
    assert run(0.08, "normal") == ("normal", 1.25)
    assert run(0.10, "low") == ("normal", 2.0)  # half pace expressed as twice the time
    assert run(0.02, "low") == ("normal", 3.0)  # floored at 5%, 2 x 2 capped at 3x
    _, s = advised_execution(AppliedAdvice("AMZN", False, "stale_state", 0.02, "limit", "low", 0.0, 0.2, False), cfg)
    assert s == 1.0
    hurried = PaperConfig(urgency="high")  # low is a quarter of high's pace: 4x > 3x, so low stays
    p, s = advised_execution(AppliedAdvice("AMZN", True, None, 0.10, "limit", "low", 0.0, 0.2, False), hurried)
    assert (p.urgency_schedule[0][1], s) == ("low", 3.0)


def test_advice_maps_to_a_tighter_policy() -> None:
    cfg = PaperConfig()
    adv = advised_policy(AppliedAdvice("AMZN", True, None, 0.03, "limit", "low", 1.5, 0.2, False), cfg)
    assert adv.order_type == "passive" and adv.participation_cap == 0.05  # Torghut's floor
    # The advice's offset is an allowance to improve on the touch (consumers/advisor/policy.py); the
    # simulator's sign is the opposite (positive = behind the touch).
    assert adv.urgency_schedule == ((0.0, "low"),) and adv.quote_offset_bps == -1.5
    join = advised_policy(AppliedAdvice("AMZN", True, None, 0.03, "limit", "low", 0.0, 0.2, False), cfg)
    assert join.quote_offset_bps == 0.0
    passive_base = PaperConfig(order_type="limit", quote_offset_bps=0.5)
    never_nearer = advised_policy(AppliedAdvice("AMZN", True, None, 0.03, "limit", "low", 3.0, 0.2, False),
                                  passive_base)
    assert never_nearer.quote_offset_bps == 0.5
    hurry = advised_policy(AppliedAdvice("AMZN", True, None, 0.5, "market", "high", None, 0.2, False), cfg)
    assert hurry.urgency_schedule == ((0.0, "normal"),) and hurry.participation_cap == 0.10


def test_execute_pair_uses_one_market_seed_for_both_arms() -> None:
    order = generate_orders(9, ["AMZN"], 0, 300 * S, 1, quantity_range=(300, 300))[0]
    model = symbol_model(9, "AMZN")
    cfg = PaperConfig()
    base = baseline_policy(cfg)
    b1, b2 = execute_pair(model, order, base, base, order_seed(9, order), warmup_s=30.0)
    assert b1.filled_qty > 0
    assert b1.arrival_mid == b2.arrival_mid and np.array_equal(b1.fills, b2.fills)
    # A different policy on the same seed sees the same market at arrival, and acts differently.
    passive = advised_policy(AppliedAdvice("AMZN", True, None, 0.05, "limit", "low", 0.0, 0.1, False), cfg)
    p1, p2 = execute_pair(model, order, base, passive, order_seed(9, order), warmup_s=30.0)
    assert p1.arrival_mid == p2.arrival_mid == b1.arrival_mid
    assert not np.array_equal(p1.fills, p2.fills)
    # and another order's seed is another market
    other = replace(order, order_id=order.order_id + "x")
    o1, _ = execute_pair(model, other, base, base, order_seed(9, other), warmup_s=30.0)
    assert not np.array_equal(o1.fills, b1.fills)


def test_trade_updates_are_torghut_lifecycles_per_arm() -> None:
    order = generate_orders(9, ["AMZN"], 0, 300 * S, 1, quantity_range=(300, 300))[0]
    model = symbol_model(9, "AMZN")
    res, _ = execute_pair(model, order, baseline_policy(PaperConfig()), baseline_policy(PaperConfig()),
                          order_seed(9, order), warmup_s=30.0)
    envs = trade_updates(order, res, "advisor", price_shift=1.0, tick_size=0.01)
    events = [e["payload"]["event"] for e in envs]
    assert events[0] == "new" and events[-1] in ("fill", "canceled")
    assert set(events[1:-1]) <= {"partial_fill"}
    parsed = [parse_trade_update(e) for e in envs]
    assert all(e["accountLabel"] == "advisor" for e in envs)
    assert {p.order_id for p in parsed} == {f"{order.order_id}-advisor"}
    assert {p.account_label for p in parsed} == {"advisor"}
    assert {p.submitted_at_ns for p in parsed} == {order.submitted_ns}
    fills = [e for e in envs if e["payload"]["event"] in ("partial_fill", "fill")]
    assert sum(float(e["payload"]["qty"]) for e in fills) == res.filled_qty
    last = envs[-1]["payload"]["order"]
    assert float(last["filled_qty"]) == res.filled_qty
    assert math.isclose(float(last["filled_avg_price"]), res.avg_fill_price + 1.0, abs_tol=1e-6)
    assert envs[0]["payload"]["order"]["submitted_at"] == envs[-1]["payload"]["order"]["submitted_at"]


def test_full_shortfall_charges_the_unfilled_remainder_at_the_end_mid() -> None:
    order = generate_orders(9, ["AMZN"], 0, 300 * S, 1, quantity_range=(300, 300))[0]
    model = symbol_model(9, "AMZN")
    cfg = PaperConfig()
    passive = advised_policy(AppliedAdvice("AMZN", True, None, 0.05, "limit", "low", 0.0, 0.1, False), cfg)
    base, adv = execute_pair(model, order, baseline_policy(cfg), passive, order_seed(9, order), warmup_s=30.0)
    d = order.parent().direction
    for r in (base, adv):
        unfilled = order.quantity - r.filled_qty
        paid = (r.avg_fill_price * r.filled_qty if r.filled_qty else 0.0) + unfilled * r.end_mid
        expected = d * (paid / order.quantity - r.arrival_mid) / r.arrival_mid * 1e4
        assert math.isclose(full_shortfall_bps(order, r), expected, rel_tol=1e-9, abs_tol=1e-9)
        if r.filled_qty == order.quantity:
            assert math.isclose(full_shortfall_bps(order, r), r.shortfall_bps, rel_tol=1e-9, abs_tol=1e-9)
    zero = replace(base, filled_qty=0, avg_fill_price=math.nan)
    assert math.isclose(full_shortfall_bps(order, zero), d * (base.end_mid - base.arrival_mid) / base.arrival_mid * 1e4)
