"""The advised arm over a stretched horizon still sees the baseline's market, and a stretch of 1 is
exactly the paper split book."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from producers.paper.orders import PaperOrder, generate_orders
from producers.paper.policy_map import PaperConfig, baseline_policy
from producers.paper.split_book import execute_arms, execute_pair, order_seed
from producers.simulated_market.symbols import symbol_model

S = 1_000_000_000


def _order(qty: int = 300) -> PaperOrder:
    return generate_orders(9, ["AMZN"], 0, 300 * S, 1, quantity_range=(qty, qty), horizon_range=(60.0, 60.0))[0]


def test_stretch_one_is_the_split_book() -> None:
    order, model, base = _order(), symbol_model(9, "AMZN"), baseline_policy(PaperConfig())
    passive = replace(base, order_type="passive", participation_cap=0.05)
    b1, a1 = execute_pair(model, order, base, passive, order_seed(9, order), warmup_s=30.0)
    b2, a2 = execute_arms(model, order, base, passive, 1.0, order_seed(9, order), 30.0)
    assert np.array_equal(b1.fills, b2.fills) and np.array_equal(a1.fills, a2.fills)
    assert (b1.end_mid, a1.end_mid) == (b2.end_mid, a2.end_mid)


def test_stretched_arm_shares_the_market_and_runs_longer() -> None:
    # A cap that always binds makes the first horizon's actions independent of the horizon length, so
    # identical policies must fill identically until the baseline's horizon ends.
    order, model = _order(5000), symbol_model(9, "AMZN")
    capped = replace(baseline_policy(PaperConfig()), participation_cap=0.02)
    b, a = execute_arms(model, order, capped, capped, 2.5, order_seed(9, order), 30.0)
    assert b.arrival_mid == a.arrival_mid
    h = order.horizon_s
    early = a.fills[a.fills[:, 0] <= h - 1.0]
    assert len(early) > 0 and np.array_equal(early, b.fills[b.fills[:, 0] <= h - 1.0])
    assert b.fills[:, 0].max() <= h + 0.1 < a.fills[:, 0].max() <= 2.5 * h + 0.1
    assert a.filled_qty > b.filled_qty


def test_stretch_below_one_is_refused() -> None:
    order, model, base = _order(), symbol_model(9, "AMZN"), baseline_policy(PaperConfig())
    with pytest.raises(ValueError):
        execute_arms(model, order, base, base, 0.5, order_seed(9, order), 30.0)


def test_policy_label_groups_stretches_by_bracket() -> None:
    from microexec.replay.run import policy_label

    p = replace(baseline_policy(PaperConfig()), order_type="passive")
    labels = [policy_label(p, s) for s in (1.0, 1.25, 2.0, 2.7, 3.0)]
    assert labels == ["passive / normal x1", "passive / normal x1-2", "passive / normal x2",
                      "passive / normal x2-3", "passive / normal x3"]
