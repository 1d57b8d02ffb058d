"""Our resting orders under the market's flow: the three rules on a hand-built book, unchanged
market-only paths, and the passive-order bias on the AMZN calibration (the check fails on the
old rule, passes on the default)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from simulator.book.core import ASK, BID, BookState, add_limit, best_bid, new_book
from simulator.execution.bias import passive_bias
from simulator.market import MarketModel, illustrative_model, simulate_market
from simulator.market.engine import S_CANCEL_NOOP, S_OWN_PULLED, S_PULLED, S_SIZE, apply_event
from simulator.market.types import CANCEL_BID, LIMIT_BID_TOUCH

AMZN_PARAMS = Path(__file__).resolve().parents[2] / "docs" / "params" / "AMZN_2012-06-21.json"


def _book_with_lone_child() -> tuple[BookState, int]:
    """Bid 100 holds only our child; bid 98 holds two other orders; asks at 105."""
    b = new_book(0, window=256, capacity=64)
    add_limit(b, BID, 98, 100, 0)
    add_limit(b, BID, 98, 100, 0)
    own = add_limit(b, BID, 100, 10, 1)
    for _ in range(3):
        add_limit(b, ASK, 105, 100, 0)
    return b, own


def _touch_only(model: MarketModel, rule: str) -> MarketModel:
    """Every cancel aimed at the touch, so the hand-built cases are deterministic."""
    ct = np.zeros_like(model.cancel_offset_table)
    return dataclasses.replace(model, cancel_offset_table=ct, own_order_rule=rule)


@pytest.mark.parametrize("rule", ["legacy", "reachable", "market_view"])
def test_a_touch_cancel_meets_a_lone_child(rule: str) -> None:
    b, own = _book_with_lone_child()
    m = _touch_only(illustrative_model(ref_price=1.0), rule)
    stats = np.zeros(S_SIZE, np.int64)
    apply_event(b, CANCEL_BID, np.random.default_rng(1), m.tables, stats)
    alive = b.o_size[own] > 0
    if rule == "legacy":  # cancels skip our order: wasted on our level, nothing moves
        assert alive and stats[S_CANCEL_NOOP] == 1 and b.lvl_n[BID, 98] == 2 and best_bid(b) == 100
    elif rule == "reachable":  # the cancel pulls our child and says so; the touch falls back
        assert not alive and stats[S_OWN_PULLED] == 1 and stats[S_PULLED] == own + 1 and best_bid(b) == 98
    else:  # the market cancels at ITS touch (98): one of the others goes, our child stays
        assert alive and b.lvl_n[BID, 98] == 1 and stats[S_CANCEL_NOOP] == 0 and best_bid(b) == 100


def test_market_view_placements_anchor_on_the_others_touch() -> None:
    # A bid at the touch joins the others (98), not our lone child (100).
    for rule, level in (("legacy", 100), ("market_view", 98)):
        b, _ = _book_with_lone_child()
        m = _touch_only(illustrative_model(ref_price=1.0), rule)
        price, qty = apply_event(b, LIMIT_BID_TOUCH, np.random.default_rng(2), m.tables, np.zeros(S_SIZE, np.int64))
        assert price == level and qty > 0


def test_rules_do_not_change_market_only_paths() -> None:
    m = illustrative_model()
    digests = {simulate_market(dataclasses.replace(m, own_order_rule=r), 30.0, 5).digest
               for r in ("legacy", "reachable", "market_view")}
    assert len(digests) == 1
    with pytest.raises(ValueError, match="own_order_rule"):
        dataclasses.replace(m, own_order_rule="nope")


def test_passive_bias_below_goal_on_amzn_and_the_check_catches_the_old_rule() -> None:
    m = MarketModel.load(AMZN_PARAMS)
    assert m.own_order_rule == "market_view"
    new = passive_bias(m, n_paths=1000)
    old = passive_bias(dataclasses.replace(m, own_order_rule="legacy"), n_paths=1000)
    assert old.mean_bps > 5.0  # the bias the issue reports (5-7 bps) is reproduced by the check
    assert abs(new.mean_bps) < 1.0 and new.stderr_bps < 0.15
    assert new.fill_ratio > 0.85  # the fix does not buy its bias by not trading


def test_pulled_children_are_worked_again_and_never_overfill() -> None:
    from simulator.execution.engine import O_FILLED, R_PULLED
    from simulator.execution.policy import ExecutionPolicy, ParentOrder
    from simulator.execution.run import PathRunner

    m = dataclasses.replace(MarketModel.load(AMZN_PARAMS), own_order_rule="reachable")
    order = ParentOrder("pull", "buy", 300, 300.0)
    runner = PathRunner(m, order, ExecutionPolicy(order_type="passive"))
    pulled = 0
    for ss in np.random.SeedSequence(3).spawn(20):
        out, _, rec_i = runner.run_raw(ss)
        pulled += int(np.count_nonzero(rec_i[:, 0] == R_PULLED))
        assert 0 <= out[O_FILLED] <= order.quantity
    assert pulled > 0
