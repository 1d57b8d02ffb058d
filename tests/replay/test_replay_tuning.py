"""The passive-fill tuning script: its per-order mix equals a real replay, and it refuses held-out seeds."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from consumers.advisor.advisor import AdvisorConfig, PassiveFillConfig
from consumers.advisor.processor import AdvisorProcessor
from microexec.replay import tuning
from microexec.replay.outcomes import PairOutcome
from microexec.replay.run import ReplayConfig, default_orders, execute_orders
from microexec.replay.simulated import load_simulated_market
from microexec.replay.timeline import build_timeline
from producers.paper.policy_map import PaperConfig
from simulator.execution.catchup import CatchUp


@pytest.mark.parametrize("threshold", [0.0, 0.65, 0.9])
def test_mixing_by_hazard_gives_the_replay_at_that_threshold(threshold: float) -> None:
    seed, seconds, n = 5, 300.0, 25  # a tuning seed (1-20), short
    cfg = AdvisorConfig()
    rows = tuning.seed_rows(seed, seconds, n, cfg)
    mixed = tuning.pairs_at(rows, threshold)
    market = load_simulated_market(seed, seconds=seconds, ks=False)
    orders = default_orders(market, n, 1, None, (30.0, 120.0))
    at = replace(cfg, passive=PassiveFillConfig(min_fill_probability=threshold))
    real = execute_orders(market, build_timeline(market.feed, AdvisorProcessor(at)), orders, ReplayConfig())
    assert [(p.baseline, p.advised, p.advised_policy) for p in mixed] == \
        [(p.baseline, p.advised, p.advised_policy) for p in real]
    if threshold == 0.9:  # the rule did something on this market: more marketable orders than with it off
        def marketable(pairs: list[PairOutcome]) -> int:
            return sum(p.advised_policy.startswith("marketable") for p in pairs)
        assert marketable(mixed) > marketable(tuning.pairs_at(rows, 0.0))
        assert any(p.advised_policy.startswith("passive") for p in mixed)


def test_held_out_seeds_are_refused() -> None:
    with pytest.raises(SystemExit, match="held-out"):
        tuning.main(["--seeds", "2020-2030"])


@pytest.mark.parametrize("catch_up", [CatchUp(math.inf, 0.0), CatchUp(0.2, 0.0), CatchUp(math.inf, 0.25),
                                      CatchUp(0.1, 0.0, 1.0, 1.0, 60.0), CatchUp(0.05, 0.0, 1.25, 0.75, 10.0)])
def test_catch_up_rows_are_the_replay_with_that_catch_up(catch_up: CatchUp) -> None:
    seed, seconds, n = 5, 300.0, 25
    cfg = AdvisorConfig()
    rows = tuning.catch_up_rows(seed, seconds, n, cfg, (CatchUp(math.inf, 0.0), catch_up))[catch_up]
    market = load_simulated_market(seed, seconds=seconds, ks=False)
    orders = default_orders(market, n, 1, None, (30.0, 120.0))
    real = execute_orders(market, build_timeline(market.feed, AdvisorProcessor(cfg)), orders,
                          ReplayConfig(paper=PaperConfig(catch_up=catch_up)))
    assert [(p.baseline, p.advised, p.advised_policy) for p in rows] == \
        [(p.baseline, p.advised, p.advised_policy) for p in real]


@pytest.mark.parametrize(("threshold", "catch_up"), [(0.0, CatchUp(0.15, 0.0, 1.0, 1.0, 60.0, 0.025)),
                                                     (0.65, CatchUp(0.1, 0.0, 1.0, 1.0, 60.0)),
                                                     (0.35, CatchUp(0.2, 0.0, 1.0, 1.0, 60.0, 0.0))])
def test_joint_rows_are_the_replay_with_that_threshold_and_catch_up(threshold: float, catch_up: CatchUp) -> None:
    seed, seconds, n = 5, 300.0, 25
    cfg = AdvisorConfig()
    rows = tuning.joint_rows(seed, seconds, n, cfg, (threshold,), (CatchUp(0.1, 0.0), catch_up))[(threshold, catch_up)]
    market = load_simulated_market(seed, seconds=seconds, ks=False)
    orders = default_orders(market, n, 1, None, (30.0, 120.0))
    at = replace(cfg, passive=PassiveFillConfig(min_fill_probability=threshold))
    real = execute_orders(market, build_timeline(market.feed, AdvisorProcessor(at)), orders,
                          ReplayConfig(paper=PaperConfig(catch_up=catch_up)))
    assert [(p.baseline, p.advised, p.advised_policy) for p in rows] == \
        [(p.baseline, p.advised, p.advised_policy) for p in real]


def _line(fill: int, p95: float, mean: int = 20, p95_seeds: int = 20, passing: int = 5) -> dict[str, object]:
    return {"seed_fill_gaps_pp": [0.0] * 20, "fill_within_seeds": fill, "worst_regime_p95_reduction": p95,
            "mean_pass_seeds": mean, "p95_pass_seeds": p95_seeds, "passing_seeds": passing}


def test_choose_joint_follows_the_fixed_rule() -> None:
    current = _line(16, 0.257)
    # below the p95 floor, too few fill seeds, cost goals lost: none eligible, the current configuration stays
    assert tuning.choose_joint([current, _line(20, 0.29), _line(15, 0.40), _line(20, 0.40, p95_seeds=18)]) is current
    # the most fill seeds among the eligible, then the larger worst per-regime p95 reduction
    a, b, c = _line(17, 0.45), _line(19, 0.31), _line(19, 0.33)
    assert tuning.choose_joint([current, a, b, c]) is c
