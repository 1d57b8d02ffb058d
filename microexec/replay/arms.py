"""Both arms of one order on one market path, the advised arm over its stretched horizon.

Why not ``producers.paper.split_book.execute_pair`` as is: Torghut gives a tightened order more time
(TORGHUT.md: execution time stretched 1-3x; the rule is ``policy_map.advised_execution``), so the
advised arm may run past the baseline's horizon. Both arms must still see the same market: the
order flow is drawn once, for the longer horizon, from the same seed ``execute_pair`` uses, and the
baseline replays its prefix up to its own horizon (a Hawkes path restricted to ``[0, t]`` is a path
on ``[0, t]``; the book's randomness is consumed in event order, so the shared prefix is identical).
With a stretch of 1 both arms draw exactly what ``execute_pair`` draws, so the results are the paper
split book's (tested).
"""

from __future__ import annotations

import numpy as np

from producers.paper.orders import PaperOrder
from simulator.execution.policy import ExecutionPolicy
from simulator.execution.run import ExecutionResult, PathRunner
from simulator.hawkes.simulate import simulate
from simulator.market.model import MarketModel


def _fresh(ss: np.random.SeedSequence) -> np.random.SeedSequence:
    """An unspawned copy (spawning advances the original's counter), as the split book does."""
    return np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size)


def stretched_order(order: PaperOrder, stretch: float) -> PaperOrder:
    """``order`` with its horizon multiplied by ``stretch`` (same id, arrival, size)."""
    return PaperOrder(order.order_id, order.symbol, order.side, order.quantity, order.horizon_s * stretch,
                      order.strategy, order.submitted_ns)


def execute_arms(model: MarketModel, order: PaperOrder, baseline: ExecutionPolicy, advised: ExecutionPolicy,
                 stretch: float, seed: np.random.SeedSequence, warmup_s: float,
                 ) -> tuple[ExecutionResult, ExecutionResult]:
    """(baseline result over ``order.horizon_s``, advised result over ``stretch`` times that)."""
    if stretch < 1.0:
        raise ValueError(f"stretch must be >= 1, got {stretch}")
    runners = [PathRunner(model, order.parent(), baseline, warmup_s),
               PathRunner(model, stretched_order(order, stretch).parent(), advised, warmup_s)]
    flow_ss, _ = _fresh(seed).spawn(2)
    t_total = max(r.t_total for r in runners)
    ev = simulate(model.hawkes, t_total, np.random.Generator(np.random.PCG64(flow_ss)), method="cluster")
    out = []
    for r in runners:
        keep = ev.times <= r.t_total
        out.append(r.run(_fresh(seed), (ev.times[keep], ev.dims[keep]))[0])
    return out[0], out[1]
