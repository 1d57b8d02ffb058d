"""Our aggressive fills excite the market's flow (opt-in), and the impact curve check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from simulator.execution.engine import O_REACT_DROPPED, O_REACTIONS
from simulator.execution.impact import impact_curve
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.run import PathRunner
from simulator.market import MarketModel
from simulator.montecarlo import shortfall_monte_carlo

AMZN_PARAMS = Path(__file__).resolve().parents[2] / "docs" / "params" / "AMZN_2012-06-21.json"


@pytest.fixture(scope="module")
def amzn() -> MarketModel:
    return MarketModel.load(AMZN_PARAMS)


def test_reactions_follow_our_aggressive_fills_only(amzn: MarketModel) -> None:
    m = dataclasses.replace(amzn, own_impact=1.0)
    order = ParentOrder("react", "buy", 800, 300.0)
    seeds = np.random.SeedSequence(4).spawn(30)
    aggressive = PathRunner(m, order, ExecutionPolicy(order_type="marketable", participation_cap=0.0))
    reactions = [aggressive.run_raw(s)[0][O_REACTIONS] for s in seeds]
    assert sum(reactions) > 30 and aggressive.out[O_REACT_DROPPED] == 0
    passive = PathRunner(m, order, ExecutionPolicy(order_type="passive"))
    assert all(passive.run_raw(s)[0][O_REACTIONS] == 0 for s in np.random.SeedSequence(4).spawn(10))
    off = PathRunner(amzn, order, ExecutionPolicy(order_type="marketable", participation_cap=0.0))
    assert all(off.run_raw(s)[0][O_REACTIONS] == 0 for s in np.random.SeedSequence(4).spawn(10))


def test_reaction_paths_are_deterministic_and_round_trip(amzn: MarketModel, tmp_path) -> None:
    m = dataclasses.replace(amzn, own_impact=2.0)
    order = ParentOrder("det", "sell", 400, 120.0)
    pol = ExecutionPolicy(order_type="marketable")
    a = shortfall_monte_carlo(m, order, pol, 40, threads=1)
    b = shortfall_monte_carlo(m, order, pol, 40, threads=2)
    assert a.digest == b.digest
    assert shortfall_monte_carlo(amzn, order, pol, 40).digest != a.digest
    path = tmp_path / "m.json"
    m.save(path)
    assert MarketModel.load(path).own_impact == 2.0
    with pytest.raises(ValueError, match="own_impact"):
        dataclasses.replace(amzn, own_impact=-1.0)


def test_impact_grows_with_size_and_with_the_reaction(amzn: MarketModel) -> None:
    kw = {"fractions": (0.01, 0.04, 0.16), "n_paths": 150}
    base = impact_curve(amzn, **kw)  # type: ignore[arg-type]
    react = impact_curve(dataclasses.replace(amzn, own_impact=1.0), **kw)  # type: ignore[arg-type]
    for c in (base, react):
        assert c.impact_bps[0] < c.impact_bps[1] < c.impact_bps[2]
        assert 0.3 < c.slope < 1.2 and c.sigma_bps > 0
    assert react.impact_bps[2] > base.impact_bps[2] + 2 * react.stderr_bps[2]
