"""Our own price impact as the simulator produces it, checked against the square-root law.

The impact literature (Torre; Almgren et al.; Toth et al. 2011; Bouchaud et al.) finds that the
price move caused by a metaorder of Q shares executed over a horizon T grows like
``Y * sigma_T * sqrt(Q / V_T)`` with ``sigma_T`` the price volatility and ``V_T`` the market volume
over T, and ``Y`` of order one. This module measures the simulator's impact curve the way
:mod:`simulator.execution.bias` measures the passive bias: a buy and a sell of each size on the
same seeded paths, the signed mid move from the decision's arrival mid to the end averaged over
both sides (the market's own drift cancels), for a range of sizes; then fits the log-log slope
(the law says 0.5) and the prefactor ``Y``. It measures, it does not tune: the simulator's impact
comes only from the book (our children consume or add liquidity); our fills do not excite the
market's flow in this version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.execution.engine import O_ARRIVAL_MID, O_END_MID
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.run import PathRunner
from simulator.market.model import MarketModel

DEFAULT_FRACTIONS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16)


@dataclass(frozen=True)
class ImpactCurve:
    fractions: list[float]  # of the expected market volume over the horizon
    quantities: list[int]
    impact_bps: list[float]  # mean signed mid move, buy and sell paired
    stderr_bps: list[float]
    sigma_bps: float  # std of the mid move over the horizon (smallest order's paths)
    slope: float  # OLS slope of log impact on log quantity (square-root law: 0.5)
    prefactor: float  # median of impact / (sigma * sqrt(Q / V))

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def impact_curve(model: MarketModel, *, fractions: Sequence[float] = DEFAULT_FRACTIONS, horizon_s: float = 300.0,
                 n_paths: int = 300, policy: ExecutionPolicy | None = None, seed: int = 20120621,
                 warmup_s: float = 60.0) -> ImpactCurve:
    """Impact of parents of ``fractions`` of the horizon's expected volume (default: marketable,
    no participation cap, so the whole quantity is traded over the horizon at the set pace)."""
    pol = policy if policy is not None else ExecutionPolicy(order_type="marketable", participation_cap=0.0,
                                                            finish_marketable=True)
    vol = model.expected_market_volume(horizon_s)
    qtys, means, errs, sigma = [], [], [], float("nan")
    for f in fractions:
        qty = max(1, round(f * vol))
        moves = np.zeros((2, n_paths))
        for s, side in enumerate(("buy", "sell")):
            order = ParentOrder(f"impact-{side}-{qty}", side, qty, horizon_s)  # type: ignore[arg-type]
            runner = PathRunner(model, order, pol, warmup_s)
            for i, ss in enumerate(np.random.SeedSequence(seed).spawn(n_paths)):
                out, _, _ = runner.run_raw(ss)
                arr, end = float(out[O_ARRIVAL_MID]), float(out[O_END_MID])
                moves[s, i] = order.direction * (end - arr) / arr * 1e4
        pair = moves.mean(axis=0)
        if math.isnan(sigma):
            sigma = float(np.std(moves[0] - moves[0].mean()))  # buy side: market drift + our small move
        qtys.append(qty)
        means.append(float(pair.mean()))
        errs.append(float(pair.std(ddof=1) / math.sqrt(n_paths)))
    q = np.asarray(qtys, dtype=float)
    m = np.asarray(means)
    ok = m > 0
    slope = float(np.polyfit(np.log(q[ok]), np.log(m[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    pref = float(np.median(m[ok] / (sigma * np.sqrt(q[ok] / vol)))) if ok.any() else float("nan")
    return ImpactCurve(list(map(float, fractions)), qtys, means, errs, sigma, slope, pref)
