"""Age-modulated multi-scale Hawkes: intensities that depend on the time since the dimension's own
last event (a refractory or recovery factor), fitted and tested.

Intensity of dimension ``i``::

    lambda_i(t) = h[i, a_i(t)] * ( baseline[i, bin(t)] + sum_jk alpha[i, j, k] * decays[k] * A_jk(t) )

where ``a_i(t)`` is the class (over ``age_edges``, seconds) of the time since the last event of
dimension ``i`` before ``t`` (the widest class before its first event). Why:

* Where the windowed KS test fails, the residuals say the events of a dimension are more
  *regular* than a Hawkes intensity makes them, and neither kernel shapes, baseline bins nor the
  spread state changed that (``docs/validation.md``). An intensity that depends on its own age
  is the classic way to hold regularity (refractoriness, a periodic re-quoting algorithm) in a
  point process (inhomogeneous Markov-interval models of neural spike trains; the self-correcting
  processes of Isham and Westcott): with ``h = 1`` it is the multi-scale model.
* Unlike the spread state, the age class changes *between* events (when the age crosses an
  edge), so the compensator is integrated piecewise over a grid that adds every such crossing to
  the event times; the class in force is known from the past alone, so the intensity is
  predictable and the time-rescaling test applies.
* The fit is the alternating scheme of :mod:`simulator.hawkes.multiscale_state` (rows concave
  given ``h``; ``h`` in closed form given the rows), with the decays held at the multi-scale
  fit's. Fit and KS only: the market engine cannot draw age-modulated flow.

Caveat, measured in the report: the KS p-values of any fitted model are optimistic, and more so
here, where D * (S - 1) factors shape the distribution of each dimension's own inter-event times,
which is what the test looks at; the report therefore also tests it out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.hawkes._blas import single_threaded_blas
from simulator.hawkes.criteria import InformationCriteria
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.goodness import DimensionFit, GoodnessReport
from simulator.hawkes.kernel_features import grid_kernel_features
from simulator.hawkes.modulated_row import solve_row
from simulator.hawkes.multiscale import MultiScaleParams

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

AGE_EDGES = (1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
"""Age classes (s): machine reactions, the ~0.5 s re-quoting cycle of the AMZN day, human scales."""




@dataclass
class _RowGrid:
    """Row ``i``'s compensator pieces: per grid interval its cell (age class x spread state), length,
    baseline bin and kernel-integral increments; its own events' rows in the grid."""

    g: FloatArray  # (own events, D*K) kernel sums just before each own event
    cell_at_events: IntArray
    bins_at_events: IntArray
    cell: IntArray  # (grid,) cell over (grid[m-1], grid[m]]
    length: FloatArray
    bins: IntArray
    dig: FloatArray
    own: IntArray  # positions of own events in the grid


def _row_grid(events: HawkesEvents, i: int, decays: FloatArray, age_edges: FloatArray, edges: FloatArray,
              states: IntArray | None = None, tail_state: int = 0, n_states: int = 1) -> _RowGrid:
    t, horizon = events.times, events.horizon
    ti = t[events.dims == i]
    cross = (ti[:, None] + age_edges[None, :]).ravel()
    nxt = np.repeat(np.r_[ti[1:], np.inf][: ti.size], age_edges.size)  # none for a dimension without events
    cross = cross[(cross < nxt) & (cross < horizon)]
    # baseline bin edges split the grid too, so each interval lies in one bin
    inner = edges[1:-1][edges[1:-1] < horizon]
    grid = np.concatenate([t, cross, inner, [horizon]])
    is_ev = np.concatenate([np.ones(t.size, np.bool_), np.zeros(grid.size - t.size, np.bool_)])
    gd = np.concatenate([events.dims, np.zeros(grid.size - t.size, np.int64)])
    order = np.argsort(grid, kind="mergesort")  # an event before a crossing at the same instant
    grid, is_ev, gd = grid[order], is_ev[order], gd[order]
    g, ig = grid_kernel_features(grid, gd, is_ev, events.dim, decays)
    lo = np.r_[0.0, grid[:-1]]
    mid = 0.5 * (lo + grid)
    last = np.searchsorted(ti, mid, side="left") - 1
    age = np.where(last >= 0, mid - ti[np.maximum(last, 0)], np.inf) if ti.size else np.full(mid.shape, np.inf)
    cell = np.searchsorted(age_edges, age, side="right").astype(np.int64)
    if states is not None:
        # the spread state over an interval is the one in force before the event that ends it
        nxt_ev = np.searchsorted(t, grid, side="left")
        st = np.where(nxt_ev < t.size, states[np.minimum(nxt_ev, t.size - 1)], tail_state)
        cell = cell * n_states + st
    nb = edges.shape[0] - 1
    bins = np.clip(np.searchsorted(edges, np.mod(mid, edges[-1]), side="right") - 1, 0, nb - 1).astype(np.int64)
    dig = np.diff(np.vstack([np.zeros((1, ig.shape[1])), ig]), axis=0)
    own = np.flatnonzero(is_ev & (gd == i))
    return _RowGrid(g[own], cell[own], bins[own], cell, grid - lo, bins, dig, own)


@dataclass(frozen=True)
class AgeModulatedFit(InformationCriteria):
    base: MultiScaleParams  # refitted baselines and weights (decays from the multi-scale fit)
    factors: FloatArray  # (D, A): age factors; 1 in each row's most visited class
    age_edges: FloatArray
    loglik: float
    n_params: int
    n_events: int
    goodness: GoodnessReport
    converged: bool
    state_factors: FloatArray  # (D, S): spread-state factors (one column of ones without states)
    degree: int = 0
    """0: a free factor per age class; p > 0: the factors lie on a curve of ``p`` coefficients per
    dimension in log age (:mod:`simulator.hawkes.multiscale_age_curve`), and ``n_params`` counts those."""


def fit_age_modulated(params: MultiScaleParams, events: HawkesEvents, age_edges: tuple[float, ...] = AGE_EDGES,
                      *, states: IntArray | None = None, tail_state: int = 0, n_states: int = 1,
                      max_rounds: int = 50, tol: float = 1e-7) -> AgeModulatedFit:
    """Fit the age factors (and, given ``states`` as for
    :func:`simulator.hawkes.multiscale_state.fit_state_modulated`, spread-state factors multiplying
    them) and refit baselines and weights at ``params``' decays and bins on ``events``."""
    ae = np.asarray(age_edges, dtype=np.float64)
    if ae.ndim != 1 or ae.size == 0 or np.any(np.diff(ae) <= 0) or ae[0] <= 0:
        raise ValueError("age_edges must be positive and increasing")
    if abs(params.period - events.horizon) > 1e-9 * max(1.0, events.horizon):
        raise ValueError("the multi-scale fit must cover the same window (edges end at the horizon)")
    if states is not None and (states.shape != events.times.shape or states.min(initial=0) < 0
                               or states.max(initial=0) >= n_states or not 0 <= tail_state < n_states):
        raise ValueError("states must give one state in [0, n_states) per event")
    if states is not None:
        states = np.asarray(states, dtype=np.int64)
    d, nb, k_sc, na = params.dim, params.n_bins, params.n_scales, ae.size + 1
    ns = n_states if states is not None else 1
    theta = [np.concatenate([params.baseline[i], params.alpha[i].reshape(-1)]) for i in range(d)]
    h_age, h_st = np.ones((d, na)), np.ones((d, ns))
    ok, ll_rows = True, np.zeros(d)
    with single_threaded_blas():
        for i in range(d):
            r = _row_grid(events, i, params.decays, ae, params.edges, states, tail_state, ns)
            ts = np.zeros((na * ns, nb))
            np.add.at(ts, (r.cell, r.bins), r.length)
            igs = np.zeros((na * ns, r.dig.shape[1]))
            np.add.at(igs, r.cell, r.dig)
            n_cell = np.bincount(r.cell_at_events, minlength=na * ns).astype(np.float64).reshape(na, ns)
            spent = ts.sum(axis=1).reshape(na, ns)
            ra, rs = int(np.argmax(spent.sum(axis=1))), int(np.argmax(spent.sum(axis=0)))
            ll_prev = -np.inf
            for _ in range(max_rounds):
                cell_h = np.outer(h_age[i], h_st[i]).ravel()
                theta[i], conv = _row_given_h(theta[i], cell_h, r, ts, igs, nb)
                c = (ts @ theta[i][:nb] + igs @ theta[i][nb:]).reshape(na, ns)
                for _ in range(5):  # closed-form steps for each factor set given the other (IPF)
                    h_age[i] = _ratio(n_cell.sum(axis=1), (c * h_st[i][None, :]).sum(axis=1))
                    h_st[i] = _ratio(n_cell.sum(axis=0), (c * h_age[i][:, None]).sum(axis=0))
                scale = h_age[i][ra] * h_st[i][rs]
                h_age[i] /= h_age[i][ra]
                h_st[i] /= h_st[i][rs]
                theta[i] = theta[i] * scale
                cell_h = np.outer(h_age[i], h_st[i]).ravel()
                lam = cell_h[r.cell_at_events] * (theta[i][:nb][r.bins_at_events] + r.g @ theta[i][nb:])
                ll_rows[i] = float(np.sum(np.log(lam)) - cell_h @ (ts @ theta[i][:nb]) - cell_h @ (igs @ theta[i][nb:]))
                if ll_rows[i] - ll_prev < tol * max(1.0, abs(ll_rows[i])):
                    break
                ll_prev = ll_rows[i]
            ok &= conv
    base = MultiScaleParams(np.array([th[:nb] for th in theta]).clip(min=1e-300), params.edges.copy(),
                            np.array([th[nb:].reshape(d, k_sc) for th in theta]), params.decays.copy())
    gof = goodness_age(base, h_age, ae, events, h_st, states, tail_state)
    return AgeModulatedFit(base=base, factors=h_age, age_edges=ae, loglik=float(ll_rows.sum()),
                           n_params=int(d * (nb + d * k_sc) + k_sc + d * (na - 1) + d * (ns - 1)),
                           n_events=len(events), goodness=gof, converged=bool(ok), state_factors=h_st)


def _ratio(n: FloatArray, c: FloatArray) -> FloatArray:
    """Closed-form factor: events over unscaled compensator mass (1 where a class has no time)."""
    return np.asarray(np.where(c > 0, np.maximum(n, 1e-3) / np.maximum(c, 1e-300), 1.0), dtype=np.float64)


def _row_given_h(th0: FloatArray, h: FloatArray, r: _RowGrid, ts: FloatArray, igs: FloatArray,
                 nb: int) -> tuple[FloatArray, bool]:
    """Concave row problem with the factors fixed (log h is a constant inside the log)."""
    x, _, ok = solve_row(th0, h @ ts, h @ igs, r.g, r.bins_at_events, nb)
    return x, ok


def goodness_age(base: MultiScaleParams, factors: FloatArray, age_edges: FloatArray, events: HawkesEvents,
                 state_factors: FloatArray | None = None, states: IntArray | None = None,
                 tail_state: int = 0) -> GoodnessReport:
    """Per-dimension KS of the time-rescaled residuals under the age- (and state-) modulated
    intensity; works on events other than the fitted ones too (the out-of-sample test), the
    profile read from 0."""
    sf = np.ones((base.dim, 1)) if state_factors is None or states is None else state_factors
    out = []
    for i in range(base.dim):
        r = _row_grid(events, i, base.decays, np.asarray(age_edges, dtype=np.float64), base.edges,
                      None if states is None else np.asarray(states, dtype=np.int64), tail_state, sf.shape[1])
        cell_h = np.outer(factors[i], sf[i]).ravel()
        inc = cell_h[r.cell] * (r.length * base.baseline[i][r.bins] + r.dig @ base.alpha[i].reshape(-1))
        comp = np.cumsum(inc)
        res = np.diff(comp[r.own], prepend=0.0)
        out.append(DimensionFit.of_residuals(i, res, res.size, events.horizon,
                                             float(comp[-1] / events.horizon) if comp.size else float("nan")))
    return GoodnessReport(dims=out, branching_ratio=float("nan"), stationary_intensity=None)
