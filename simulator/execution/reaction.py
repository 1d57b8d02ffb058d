"""The market's reaction to our own aggressive fills: they excite the order flow (opt-in impact).

The market's flow is drawn before a path runs, because it does not depend on the book; our
*trades* are the exception the impact literature insists on: a market order of ours is, to the
other participants, one more market order, and the data say what one market order of a side
causes (the fitted column of the branching matrix for that side's market orders: more market
orders the same way, and refills on the side it consumed). With ``MarketModel.own_impact = c > 0``
an aggressive child fill of ``q`` shares seeds a Hawkes cluster whose first generation has mean
``c * (q / mean market order size of that side)`` times that column, at the fitted decays, and
whose descendants follow the model's own branching; the cluster's events are merged into the
path's flow in time order. ``c = 1`` is the estimate from data (our order counts as market
orders of the typical size); other values make it configurable. Passive fills seed nothing: the
market order that filled us is already in the flow and already excited it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from simulator.book.core import hot
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.poisson import poisson
from simulator.market.model import MarketModel
from simulator.market.types import MARKET_BUY, MARKET_SELL, N_DIMS

REACTION_CAP = 8192  # reaction events a path can hold; more are dropped (and counted)


class ReactionTables(NamedTuple):
    cum: NDArray[np.float64]  # (D, D*K): cumulative branching of parent j over (child i, scale k)
    colsum: NDArray[np.float64]  # (D,)
    decays: NDArray[np.float64]  # (K,)
    mult: NDArray[np.float64]  # (D,): first-generation multiplier per share of our fill (0: none)


def reaction_tables(model: MarketModel) -> ReactionTables:
    ms = model.multiscale if model.multiscale is not None else MultiScaleParams.from_hawkes(model.hawkes)
    d, k = ms.dim, ms.n_scales
    flat = ms.alpha.transpose(1, 0, 2).reshape(d, d * k)  # [j, i*K + k] = alpha[i, j, k]
    mult = np.zeros(N_DIMS)
    if model.own_impact > 0:
        for j in (MARKET_BUY, MARKET_SELL):
            mult[j] = model.own_impact / max(model.mean_size(j), 1.0)
    return ReactionTables(np.ascontiguousarray(np.cumsum(flat, axis=1)), flat.sum(axis=1),
                          np.ascontiguousarray(ms.decays), mult)


@hot  # called from the NRT-free event loop (simulator.execution.engine): no allocation here
def spawn_reaction(t: float, j: int, shares: float, rt: ReactionTables, limit: float, rng: np.random.Generator,
                   ex_t: NDArray[np.float64], ex_d: NDArray[np.int64], head: int,
                   n: int) -> tuple[int, int, int]:
    """Add the cluster seeded by our fill of ``shares`` (as market-order dimension ``j`` at ``t``) to
    the reaction queue ``ex_*[head:n]`` (kept sorted, compacted to start at 0); returns
    (new head, new n, events dropped for room)."""
    if head > 0:
        m = n - head
        for r in range(m):
            ex_t[r] = ex_t[head + r]
            ex_d[r] = ex_d[head + r]
        head, n = 0, m
    k_sc = rt.decays.shape[0]
    width = rt.cum.shape[1]
    start = n
    dropped = 0
    gen_parent_t = t
    gen_j = j
    mean = rt.mult[j] * shares * rt.colsum[j]
    q = start  # BFS cursor over the events added by this call
    while True:
        if mean > 0.0:
            for _ in range(poisson(rng, mean)):
                u = rng.random() * rt.colsum[gen_j]
                c = 0
                while c < width - 1 and u >= rt.cum[gen_j, c]:
                    c += 1
                tc = gen_parent_t + rng.standard_exponential() / rt.decays[c % k_sc]
                if tc < limit:
                    if n < ex_t.shape[0]:
                        ex_t[n] = tc
                        ex_d[n] = c // k_sc
                        n += 1
                    else:
                        dropped += 1
        if q >= n:
            break
        gen_parent_t = ex_t[q]
        gen_j = ex_d[q]
        mean = rt.colsum[gen_j]
        q += 1
    # Insert the new events into the (sorted) queue in place: a stable insertion sort, so the result
    # is exactly the stable sort's (equal times keep their order), without allocating.
    for a in range(max(start, head + 1), n):
        tc = ex_t[a]
        dc = ex_d[a]
        z = a - 1
        while z >= head and ex_t[z] > tc:
            ex_t[z + 1] = ex_t[z]
            ex_d[z + 1] = ex_d[z]
            z -= 1
        ex_t[z + 1] = tc
        ex_d[z + 1] = dc
    return head, n, dropped
