"""Passive with catch-up (simulator/execution/catchup.py, in the engine's loop): crosses only a deficit,
never ahead of the advised schedule, deterministic, and with the rule disabled exactly the plain
passive execution."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.paper.orders import generate_orders
from producers.paper.policy_map import PaperConfig, advised_catch_up, advised_execution, baseline_policy, no_looser
from producers.paper.split_book import execute_arms, order_seed
from producers.simulated_market.symbols import symbol_model
from simulator.execution.catchup import CatchUp, catchup_quantity, excess_working, tolerance_shares
from simulator.execution.engine import R_IOC
from simulator.execution.run import PathRunner
from tests.unit.test_paper_core import applied_advice, configs
from torghut_client import AppliedAdvice

S = 1_000_000_000


def test_catchup_quantity_crosses_only_the_deficit_beyond_tolerance() -> None:
    assert catchup_quantity(100.0, 100, 0, 0.0) == 0  # on schedule
    assert catchup_quantity(100.0, 120, 0, 0.0) == 0  # ahead
    assert catchup_quantity(100.7, 60, 0, 0.0) == 40  # floor of the target: never a share past it
    assert catchup_quantity(100.0, 60, 0, 30.0) == 10  # beyond the tolerance only
    assert catchup_quantity(100.0, 75, 0, 30.0) == 0
    assert catchup_quantity(100.0, 60, 25, 0.0) == 15  # a cross on its way counts
    assert catchup_quantity(100.0, 60, 0, math.inf) == 0


def test_tolerance_is_zero_in_the_final_window() -> None:
    assert tolerance_shares(0.1, 0.25, 400.0, 0.5) == pytest.approx(40.0)
    assert tolerance_shares(0.1, 0.25, 400.0, 0.75) == 0.0
    assert tolerance_shares(math.inf, 0.25, 400.0, 0.5) == math.inf
    assert tolerance_shares(math.inf, 0.0, 400.0, 0.99) == math.inf


def test_excess_working_keeps_the_arm_within_its_schedule() -> None:
    assert excess_working(100.0, 50, 40, 0, 10) == 0
    assert excess_working(100.0, 50, 40, 5, 20) == 15


@settings(max_examples=300, deadline=None)
@given(target=st.floats(0, 1e4), filled=st.integers(0, 10_000), pending=st.integers(0, 500),
       tol=st.one_of(st.floats(0, 1e3), st.just(math.inf)))
def test_catchup_never_passes_the_target(target: float, filled: int, pending: int, tol: float) -> None:
    q = catchup_quantity(target, filled, pending, tol)
    assert q >= 0
    assert q == 0 or filled + pending + q <= math.floor(target)
    assert q == 0 or math.floor(target) - filled - pending > tol


def test_catch_up_config_is_checked() -> None:
    with pytest.raises(ValueError):
        CatchUp(tolerance=-0.1)
    with pytest.raises(ValueError):
        CatchUp(final=1.5)
    assert not CatchUp(math.inf, 0.0).active and CatchUp(math.inf, 0.1).active


def _setup(qty: int = 400, horizon: float = 120.0) -> tuple:
    order = generate_orders(21, ["AMZN"], 0, 600 * S, 1, quantity_range=(qty, qty),
                            horizon_range=(horizon, horizon))[0]
    model = symbol_model(21, "AMZN")
    base = baseline_policy(PaperConfig())
    passive = replace(base, order_type="passive", participation_cap=0.05)
    return order, model, base, passive


@pytest.mark.parametrize("cu", [CatchUp(math.inf, 0.0), CatchUp(1.0, 0.0)])
def test_a_catch_up_that_never_crosses_is_the_plain_passive_parent(cu: CatchUp) -> None:
    # CatchUp(inf, 0) is off; CatchUp(1.0, 0) runs the loop's catch-up bookkeeping but can never be
    # a whole order behind: both must leave every draw and action of the plain passive parent.
    order, model, _, passive = _setup()
    for k in range(3):
        a, a_t, a_i = PathRunner(model, order.parent(), passive, 30.0).run(np.random.SeedSequence(100 + k))
        b, b_t, b_i = PathRunner(model, order.parent(), passive, 30.0, catch_up=cu).run(np.random.SeedSequence(100 + k))
        assert np.array_equal(a.fills, b.fills) and a.end_mid == b.end_mid and a.child_orders == b.child_orders
        assert np.array_equal(a_t, b_t) and np.array_equal(a_i, b_i)


def _target(t: float, qty: int, horizon: float, dt: float = 1.0) -> float:
    """The advised schedule's target at decision time t (normal tier, one interval of look-ahead),
    without the participation cap: an upper bound on what the arm may have filled."""
    return min(qty, qty * t / horizon + qty * dt / horizon)


@pytest.mark.parametrize("cu", [CatchUp(0.0, 0.0), CatchUp(0.05, 0.25), CatchUp(math.inf, 0.3)])
def test_catch_up_is_never_ahead_of_the_schedule_and_crosses_only_behind(cu: CatchUp) -> None:
    order, model, _, passive = _setup()
    h = order.horizon_s
    crossed = 0
    for k in range(6):
        runner = PathRunner(model, order.parent(), passive, 30.0, catch_up=cu)
        res, rec_t, rec_i = runner.run(np.random.SeedSequence(200 + k))
        t = res.fills[:, 0]
        cum = np.cumsum(res.fills[:, 2])
        lat = passive.order_entry_latency_s  # a child reaches the book this long after its decision
        assert np.all(cum <= [_target(x, order.quantity, h) + 1e-9 for x in np.floor(t - lat + 1e-9)])
        # Every cross happens while the arm is behind the schedule at the decision that sent it.
        for ti in rec_t[rec_i[:, 0] == R_IOC] - 30.0:
            dec = math.floor(ti - passive.order_entry_latency_s + 1e-9)
            before = res.fills[res.fills[:, 0] < ti - 1e-12, 2].sum()
            assert before < _target(dec, order.quantity, h)
            crossed += 1
        again = PathRunner(model, order.parent(), passive, 30.0, catch_up=cu).run(np.random.SeedSequence(200 + k))[0]
        assert np.array_equal(res.fills, again.fills)  # deterministic
    assert crossed > 0


def test_catch_up_fills_more_than_passive_alone_on_the_same_paths() -> None:
    order, model, base, passive = _setup()
    filled = {"passive": 0, "catch-up": 0}
    for k in range(8):
        ss = order_seed(300 + k, order)
        _, p = execute_arms(model, order, base, passive, 2.0, ss, 30.0)
        _, c = execute_arms(model, order, base, passive, 2.0, ss, 30.0, CatchUp(0.0, 0.0))
        filled["passive"] += p.filled_qty
        filled["catch-up"] += c.filled_qty
        assert c.filled_qty >= p.filled_qty or c.filled_qty >= 0.9 * order.quantity
    assert filled["catch-up"] > filled["passive"]


def test_only_a_passive_advised_arm_of_a_marketable_baseline_catches_up() -> None:
    cfg = PaperConfig()
    base = baseline_policy(cfg)
    passive = replace(base, order_type="passive")
    assert advised_catch_up(passive, cfg) == cfg.catch_up is not None
    assert advised_catch_up(base, cfg) is None  # a marketable advised arm crosses already
    limit_cfg = PaperConfig(order_type="limit")
    assert advised_catch_up(baseline_policy(limit_cfg), limit_cfg) is None  # passive baseline stays passive
    assert advised_catch_up(passive, replace(cfg, catch_up=None)) is None
    with pytest.raises(ValueError):
        PathRunner(symbol_model(21, "AMZN"), _setup()[0].parent(), base, catch_up=CatchUp())


@settings(max_examples=500, deadline=None)
@given(applied=applied_advice, cfg=configs)
def test_catch_up_only_where_the_advice_tightens_a_marketable_baseline(applied: AppliedAdvice,
                                                                      cfg: PaperConfig) -> None:
    # Tighten only (TORGHUT.md): the catch-up may cross only for an advised arm that is itself no
    # looser than the baseline and whose baseline already crosses; it then crosses at the baseline's price.
    policy, stretch = advised_execution(applied, cfg)
    cu = advised_catch_up(policy, cfg)
    base = baseline_policy(cfg)
    if cu is not None:
        assert base.order_type == "marketable" and policy.order_type == "passive"
        assert no_looser(policy, base, stretch)
