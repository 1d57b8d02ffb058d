"""How far our own passive parent moves the simulated mid: the passive-order bias check.

A resting parent should not move the market by its mere presence much more than the impact
literature says a small passive order does. The check works a buy and a sell of the same size on
the *same* market paths (common random numbers: the same seed per path for both sides) and
averages the signed mid move ``dir * (end mid - arrival mid)`` over both: the market flow is
symmetric, so without any effect of ours this is zero in expectation, and pairing the sides
cancels most of the path-to-path noise of the mid itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.execution.engine import O_ARRIVAL_MID, O_END_MID, O_FILLED
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.run import PathRunner
from simulator.market.model import MarketModel


@dataclass(frozen=True)
class BiasResult:
    mean_bps: float  # signed mid move in our direction, averaged over buy and sell (bps)
    stderr_bps: float
    buy_bps: float
    sell_bps: float
    n_paths: int
    fill_ratio: float

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def passive_bias(model: MarketModel, *, n_paths: int = 400, horizon_s: float = 300.0, fraction: float = 0.01,
                 policy: ExecutionPolicy | None = None, seed: int = 20120621,
                 warmup_s: float = 60.0) -> BiasResult:
    """Mean signed mid move (bps) caused by working a passive parent of ``fraction`` of the
    expected market volume over ``horizon_s``, from ``n_paths`` paired paths."""
    pol = policy if policy is not None else ExecutionPolicy(order_type="passive")
    qty = max(1, round(fraction * model.expected_market_volume(horizon_s)))
    moves = np.zeros((2, n_paths))
    filled = np.zeros((2, n_paths))
    for s, side in enumerate(("buy", "sell")):
        order = ParentOrder(f"bias-{side}", side, qty, horizon_s)  # type: ignore[arg-type]
        runner = PathRunner(model, order, pol, warmup_s)
        # Fresh children per side: spawning from a SeedSequence advances it, so reusing the objects
        # would hand the second side different paths and lose the pairing.
        seeds = np.random.SeedSequence(seed).spawn(n_paths)
        for i in range(n_paths):
            out, _, _ = runner.run_raw(seeds[i])
            arr, end = float(out[O_ARRIVAL_MID]), float(out[O_END_MID])
            moves[s, i] = order.direction * (end - arr) / arr * 1e4
            filled[s, i] = out[O_FILLED] / qty
    pair = moves.mean(axis=0)
    return BiasResult(mean_bps=float(pair.mean()), stderr_bps=float(pair.std(ddof=1) / math.sqrt(n_paths)),
                      buy_bps=float(moves[0].mean()), sell_bps=float(moves[1].mean()), n_paths=n_paths,
                      fill_ratio=float(filled.mean()))
