"""Parent-order execution: Torghut's arithmetic with hand-computed numbers, IOC limits, and queue
position honoured by passive children (a child fills only after the volume ahead of it trades)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.execution import ExecutionPolicy, ParentOrder, PathRunner, shortfall_notional, slippage_bps
from simulator.hawkes.marks import MarkDistribution
from simulator.market import MarketModel, illustrative_model
from simulator.market.types import MARKET_BUY, MARKET_SELL, N_DIMS


def flat_model() -> MarketModel:
    """Every size 100 shares; start book bid 100.00 / ask 100.01, 10 levels of 3 orders a side."""
    m = illustrative_model(ref_price=100.0, tick_size=0.01)
    flat = MarkDistribution("empirical", np.array([100]), np.array([1.0]))
    return MarketModel(m.hawkes, (flat,) * N_DIMS, m.deep_offset_table,
                       m.cancel_offset_table, m.tick_size, m.ref_price)


def run(order: ParentOrder, policy: ExecutionPolicy, times: list[float], dims: list[int]):
    runner = PathRunner(flat_model(), order, policy, warmup_s=0.0)
    res, _, _ = runner.run(np.random.SeedSequence(0), flow=(np.array(times), np.array(dims)))
    return res


def test_torghut_arithmetic_by_hand():
    assert slippage_bps(1, 100.10, 100.00) == pytest.approx(10.0)
    assert slippage_bps(-1, 99.90, 100.00) == pytest.approx(10.0)  # selling lower is a cost too
    assert slippage_bps(-1, 100.05, 100.00) == pytest.approx(-5.0)
    assert shortfall_notional(1, 100.10, 100.00, 300) == pytest.approx(30.0)
    assert math.isnan(slippage_bps(1, math.nan, 100.0))


ONE_SHOT: dict[str, Any] = dict(participation_cap=0.0, decision_interval_s=10.0, feed_latency_s=0.0,
                                order_entry_latency_s=0.0, reprice_ticks=0)


def test_marketable_buy_fills_at_far_touch_and_stops_at_its_limit():
    # 250 shares against 300 at 100.01: avg 100.01 vs arrival mid 100.005.
    res = run(ParentOrder("a", "buy", 250, 10.0), ExecutionPolicy(order_type="marketable", **ONE_SHOT), [], [])
    assert res.filled_qty == 250 and res.fill_ratio == 1.0
    assert res.avg_fill_price == pytest.approx(100.01)
    assert res.arrival_mid == pytest.approx(100.005)
    assert res.shortfall_bps == pytest.approx((100.01 - 100.005) / 100.005 * 1e4)  # 0.49998 bps
    # 400 shares with a zero-tolerance limit at 100.01: only the 300 there fill (IOC), ratio 0.75.
    res = run(ParentOrder("b", "buy", 400, 10.0), ExecutionPolicy(order_type="marketable", **ONE_SHOT), [], [])
    assert res.filled_qty == 300 and res.fill_ratio == 0.75
    # With 1 bp of tolerance (1 tick at 100): 300 @ 100.01 + 100 @ 100.02.
    res = run(ParentOrder("c", "buy", 400, 10.0),
              ExecutionPolicy(order_type="marketable", quote_offset_bps=1.0, **ONE_SHOT), [], [])
    assert res.filled_qty == 400
    assert res.avg_fill_price == pytest.approx((300 * 100.01 + 100 * 100.02) / 400)


def test_sell_sign_convention():
    res = run(ParentOrder("s", "sell", 200, 10.0), ExecutionPolicy(order_type="marketable", **ONE_SHOT), [], [])
    assert res.avg_fill_price == pytest.approx(100.00)
    assert res.shortfall_bps == pytest.approx(-(100.00 - 100.005) / 100.005 * 1e4)  # +0.49998: a cost


def test_passive_child_waits_for_the_queue_ahead():
    order = ParentOrder("p", "buy", 100, 10.0)
    policy = ExecutionPolicy(order_type="passive", **ONE_SHOT)
    # Our 100 joins the bid at 100.00 behind 3 x 100. Three market sells only clear the queue ahead.
    res = run(order, policy, [1.0, 2.0, 3.0], [MARKET_SELL] * 3)
    assert res.filled_qty == 0 and math.isnan(res.shortfall_bps)
    # The fourth reaches us: filled at 100.00, i.e. half a tick better than arrival mid.
    res = run(order, policy, [1.0, 2.0, 3.0, 4.0], [MARKET_SELL] * 4)
    assert res.filled_qty == 100
    assert res.fills.tolist() == [[4.0, 100.0, 100.0]]
    assert res.shortfall_bps == pytest.approx((100.00 - 100.005) / 100.005 * 1e4)
    # Market buys trade on the other side and never fill a resting bid.
    res = run(order, policy, [1.0, 2.0, 3.0, 4.0], [MARKET_BUY] * 4)
    assert res.filled_qty == 0


def test_entry_latency_lets_the_book_move_first():
    # The marketable child is decided at t=0 on ask 100.01 but arrives at t=0.5, after a market buy
    # of 100 and then three more have taken all 300 at 100.01: the zero-tolerance IOC gets nothing.
    policy = ExecutionPolicy(order_type="marketable", participation_cap=0.0, decision_interval_s=10.0,
                             feed_latency_s=0.0, order_entry_latency_s=0.5, reprice_ticks=0)
    res = run(ParentOrder("l", "buy", 100, 10.0), policy, [0.1, 0.2, 0.3], [MARKET_BUY] * 3)
    assert res.filled_qty == 0
    res = run(ParentOrder("l", "buy", 100, 10.0), policy, [0.1, 0.2], [MARKET_BUY] * 2)
    assert res.filled_qty == 100 and res.avg_fill_price == pytest.approx(100.01)


def test_participation_cap_limits_children():
    m = illustrative_model()
    order = ParentOrder("cap", "buy", 10**7, 60.0)  # far more than the market trades
    policy = ExecutionPolicy(order_type="marketable", participation_cap=0.05, quote_offset_bps=50.0)
    runner = PathRunner(m, order, policy, warmup_s=10.0)
    res, _, _ = runner.run(np.random.SeedSequence(5))
    assert 0 < res.filled_qty <= 0.05 * res.market_volume + 1


@pytest.mark.parametrize("policy", [
    ExecutionPolicy(participation_cap=0.0, decision_interval_s=0.25, reprice_ticks=1),
    ExecutionPolicy(participation_cap=0.0, order_type="marketable", quote_offset_bps=100.0),
    ExecutionPolicy(participation_cap=0.3, urgency_schedule=((0.0, "low"), (0.5, "high")), finish_marketable=True),
])
def test_parent_is_never_overfilled(policy):
    # Latency means fills can land while a cancel/re-post is in flight; the parent still caps.
    m = illustrative_model()
    runner = PathRunner(m, ParentOrder("of", "sell", 3000, 60.0), policy, warmup_s=5.0)
    for seed in range(5):
        res, _, _ = runner.run(np.random.SeedSequence(seed))
        assert 0 <= res.filled_qty <= 3000
        assert res.fills[:, 2].sum() == res.filled_qty


def test_policy_from_torghut_advice():
    p = ExecutionPolicy.from_advice("high", 0.05, "limit", 1.5)
    assert p.urgency_schedule == ((0.0, "high"),) and p.participation_cap == 0.05
    assert p.order_type == "passive" and p.quote_offset_bps == 1.5
    assert ExecutionPolicy.from_advice("low", preferred_order_type="market").order_type == "marketable"
    with pytest.raises(ValueError):
        ExecutionPolicy.from_advice("normal", preferred_order_type="stop")
    with pytest.raises(ValueError):
        ExecutionPolicy.from_advice("urgent")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.sampled_from(["buy", "sell"]),
       order_type=st.sampled_from(["passive", "marketable"]), offset=st.floats(-5.0, 30.0),
       reprice=st.integers(0, 3), finish=st.booleans(), latency=st.floats(0.0, 0.2))
def test_book_stays_valid_while_a_parent_is_worked(seed, side, order_type, offset, reprice, finish, latency):
    from simulator.book.core import check_invariants

    policy = ExecutionPolicy(order_type=order_type, quote_offset_bps=offset, reprice_ticks=reprice,
                             finish_marketable=finish, participation_cap=0.0, order_entry_latency_s=latency,
                             feed_latency_s=latency / 2)
    runner = PathRunner(illustrative_model(), ParentOrder("prop", side, 5000, 30.0), policy, warmup_s=5.0)
    res, _, rec = runner.run(np.random.SeedSequence(seed))
    assert np.all(rec[:, 4] > rec[:, 3])  # never crossed or locked, after every event and action
    assert check_invariants(runner.book) == 0
    assert 0 <= res.filled_qty <= 5000
