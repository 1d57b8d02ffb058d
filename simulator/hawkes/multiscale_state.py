"""Book-state-modulated multi-scale Hawkes: intensities that react to the spread, fitted and tested.

Intensity of dimension ``i``::

    lambda_i(t) = h[i, s(t)] * ( baseline[i, bin(t)] + sum_jk alpha[i, j, k] * decays[k] * A_jk(t) )

where ``s(t)`` is the state of the book in force at ``t`` (here: the spread class), known just
before every event and constant between events, so the intensity stays predictable and the
time-rescaling test applies unchanged.

Why this form, and how it is fitted:

* The queue-reactive literature (Huang, Lehalle and Rosenbaum; Morariu-Patrichi and Pakkanen's
  state-dependent Hawkes) finds that how wide the spread is changes the rate of every event type.
  A *multiplicative* factor per (dimension, state) scales baseline and excitation together: one
  extra number per state and dimension, and ``h = 1`` is the unmodulated model.
* The state is piecewise constant between events, so every compensator splits over the
  inter-event intervals: the baseline integral is ``h @ TS`` (TS = time spent in each state and
  baseline bin) and the excitation integral ``h @ IGS`` (IGS = increments of the integrated
  kernels over the intervals spent in each state). With ``h`` given, each row is the same concave
  problem as :mod:`simulator.hawkes.multiscale_fit` with rescaled columns; with the rest given,
  ``h[i, s] = N_is / C_is`` in closed form. The fit alternates the two (each step raises the
  likelihood), with the decays held at the multi-scale fit's: the state part adds D * (S - 1)
  free parameters (one factor per row is absorbed by the row's scale).
* This is the fitting and testing side only: the market engine draws the flow before the book
  runs (exogenous flow), so a path cannot yet be *simulated* with state-dependent rates; the
  report says so where it shows this model.
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


def _kernel_features(times: FloatArray, dims: IntArray, horizon: float, d: int,
                     decays: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``G`` (N, D*K): kernel sums just before each event; ``IG`` (N, D*K): their integrals from 0
    to each event; ``tail`` (D*K,): the integrals from the last event to the horizon (the horizon is
    one more, non-exciting, grid point)."""
    n = times.shape[0]
    grid = np.append(times, float(horizon))
    is_event = np.ones(n + 1, dtype=np.bool_)
    is_event[n] = False
    g, ig = grid_kernel_features(grid, np.append(dims, 0).astype(np.int64), is_event, d, decays)
    tail = ig[n] - (ig[n - 1] if n > 0 else 0.0)
    return g[:n], ig[:n], tail


def _state_time(times: FloatArray, horizon: float, states: IntArray, tail_state: int, n_states: int,
                edges: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``TS`` (S, B): time spent in each state and baseline bin; ``cum`` (N, S*B): the same, cumulated
    from 0 up to each event (for the compensator at events)."""
    nb = edges.shape[0] - 1
    bounds = np.concatenate([[0.0], times, [horizon]])
    st = np.concatenate([states, [tail_state]])  # state over (bounds[n], bounds[n+1]]
    per = np.zeros((st.shape[0], n_states * nb))
    for b in range(nb):
        lo = np.clip(bounds[:-1], edges[b], edges[b + 1])
        hi = np.clip(bounds[1:], edges[b], edges[b + 1])
        per[np.arange(st.shape[0]), st * nb + b] += hi - lo
    return per.sum(axis=0).reshape(n_states, nb), np.cumsum(per[:-1], axis=0)


@dataclass(frozen=True)
class StateModulatedFit(InformationCriteria):
    """The fitted factors and refitted rates, with the same likelihood and KS report as the others."""

    base: MultiScaleParams  # refitted baselines and weights (decays from the multi-scale fit)
    factors: FloatArray  # (D, S): h[i, s]; 1 in each row's most visited state
    loglik: float
    n_params: int
    n_events: int
    goodness: GoodnessReport
    converged: bool


def spread_states(spreads: NDArray[np.int64], n_classes: int = 3) -> tuple[IntArray, FloatArray]:
    """Spread classes by the window's own quantiles (ties merged, so a spread that is almost always
    one tick gives one class); a one-sided book (spread < 0) counts as the widest class."""
    s = np.where(spreads < 0, np.iinfo(np.int64).max // 2, spreads).astype(np.float64)
    cuts = np.unique(np.quantile(s, np.linspace(0.0, 1.0, n_classes + 1)[1:-1], method="lower"))
    cuts = cuts[cuts > s.min()] if s.size else cuts  # a cut at the minimum would leave its class empty
    return np.searchsorted(cuts, s, side="right").astype(np.int64), cuts


TICK_CUTS = (2, 3)
"""Spread classes of the state-dependent Hawkes literature (Morariu-Patrichi and Pakkanen): one tick,
two ticks, three or more. At one tick no limit order can improve the quote, so the inside-spread
intensities must be (almost) zero there: a window's quantiles can merge that state away (a book
at one tick 85% of the time gives one quantile class) where these fixed classes keep it."""


def tick_states(spreads: NDArray[np.int64], cuts: tuple[int, ...] = TICK_CUTS) -> tuple[IntArray, FloatArray]:
    """Spread classes by fixed tick cuts (class ``k`` holds ``cuts[k-1] <= spread < cuts[k]``); a
    one-sided book (spread < 0) counts as the widest class. Same return shape as :func:`spread_states`."""
    s = np.where(spreads < 0, np.iinfo(np.int64).max // 2, spreads).astype(np.float64)
    c = np.asarray(cuts, dtype=np.float64)
    return np.searchsorted(c, s, side="right").astype(np.int64), c


def compact_states(states: IntArray, tail_state: int) -> tuple[IntArray, int, int]:
    """Renumber the classes a window actually visits (before an event or after its last one) as
    0..S-1, keeping their order: an empty class would add D free factors that nothing identifies
    and charge them to the information criterion."""
    used = np.unique(np.append(states, tail_state))
    return (np.searchsorted(used, states).astype(np.int64), int(np.searchsorted(used, tail_state)),
            int(used.size))


def fit_state_modulated(params: MultiScaleParams, events: HawkesEvents, states: IntArray, tail_state: int,
                        n_states: int, *, max_rounds: int = 50, tol: float = 1e-7) -> StateModulatedFit:
    """Fit ``h`` and refit baselines and weights at ``params``' decays and bins; ``states[n]`` is the
    state in force just before event ``n`` and ``tail_state`` after the last one."""
    states = np.asarray(states, dtype=np.int64)
    if states.shape != events.times.shape or (states.size and (states.min() < 0 or states.max() >= n_states)) \
            or not 0 <= tail_state < n_states:
        raise ValueError("states must give one state in [0, n_states) per event")
    d, nb, k_sc = params.dim, params.n_bins, params.n_scales
    if abs(params.period - events.horizon) > 1e-9 * max(1.0, events.horizon):
        raise ValueError("the multi-scale fit must cover the same window (edges end at the horizon)")
    times, dims = events.times, events.dims
    g, ig, tail = _kernel_features(times, dims, events.horizon, d, params.decays)
    ts, cum_ts = _state_time(times, events.horizon, states, tail_state, n_states, params.edges)
    dig = np.diff(np.vstack([np.zeros((1, ig.shape[1])), ig]), axis=0)  # integral over (t_{n-1}, t_n]
    igs = np.zeros((n_states, ig.shape[1]))
    np.add.at(igs, states, dig)
    igs[tail_state] += tail
    bins = np.clip(np.searchsorted(params.edges, times, side="right") - 1, 0, nb - 1)
    p = nb + d * k_sc
    h = np.ones((d, n_states))
    theta = [np.concatenate([params.baseline[i], params.alpha[i].reshape(-1)]) for i in range(d)]
    ok = True
    ll_prev = -np.inf
    ll = -np.inf
    with single_threaded_blas():
        for _ in range(max_rounds):
            ll = 0.0
            for i in range(d):
                idx = np.flatnonzero(dims == i)
                th, _, conv = _row_given_h(theta[i], h[i], g[idx], bins[idx], states[idx], ts, igs, nb)
                ok &= conv
                # closed-form factors given the rates, normalised to 1 in the most visited state
                c = ts @ th[:nb] + igs @ th[nb:]
                n_s = np.bincount(states[idx], minlength=n_states).astype(np.float64)
                h_new = np.where(c > 0, np.maximum(n_s, 1e-3) / np.maximum(c, 1e-300), 1.0)
                ref = int(np.argmax(ts.sum(axis=1)))
                scale = h_new[ref]
                h[i] = h_new / scale
                theta[i] = th * scale
                ll += _row_loglik(theta[i], h[i], g[idx], bins[idx], states[idx], ts, igs, nb)
            if ll - ll_prev < tol * max(1.0, abs(ll)):
                break
            ll_prev = ll
    base = MultiScaleParams(np.array([th[:nb] for th in theta]).clip(min=1e-300), params.edges.copy(),
                            np.array([th[nb:].reshape(d, k_sc) for th in theta]), params.decays.copy())
    gof = _goodness(theta, h, dims, states, cum_ts, ig, nb, n_states, events)
    n_params = d * p + k_sc + d * (n_states - 1)
    return StateModulatedFit(base=base, factors=h, loglik=float(ll), n_params=int(n_params), n_events=len(events),
                             goodness=gof, converged=bool(ok))


def _row_loglik(th: FloatArray, h: FloatArray, gi: FloatArray, bins: IntArray, st: IntArray, ts: FloatArray,
                igs: FloatArray, nb: int) -> float:
    lam = h[st] * (th[:nb][bins] + gi @ th[nb:])
    return float(np.sum(np.log(lam)) - h @ (ts @ th[:nb]) - h @ (igs @ th[nb:]))


def _row_given_h(th0: FloatArray, h: FloatArray, gi: FloatArray, bins: IntArray, st: IntArray, ts: FloatArray,
                 igs: FloatArray, nb: int) -> tuple[FloatArray, float, bool]:
    """Concave row problem with the factors fixed: log h is a constant inside the log."""
    return solve_row(th0, h @ ts, h @ igs, gi, bins, nb)


def _goodness(theta: list[FloatArray], h: FloatArray, dims: IntArray, states: IntArray, cum_ts: FloatArray,
              ig: FloatArray, nb: int, n_states: int, events: HawkesEvents) -> GoodnessReport:
    """Per-dimension KS of the time-rescaled residuals under the modulated intensity."""
    dig = np.diff(np.vstack([np.zeros((1, ig.shape[1])), ig]), axis=0)
    out = []
    for i, th in enumerate(theta):
        # compensator increments over each inter-event interval, scaled by that interval's state
        base_inc = np.diff(np.vstack([np.zeros((1, cum_ts.shape[1])), cum_ts]), axis=0)
        w = (h[i][:, None] * th[:nb][None, :]).reshape(-1)  # (S*B,) state-major like cum_ts
        inc = base_inc @ w + h[i][states] * (dig @ th[nb:])
        comp = np.cumsum(inc)
        idx = np.flatnonzero(dims == i)
        r = np.diff(comp[idx], prepend=0.0)
        out.append(DimensionFit.of_residuals(i, r, idx.size, events.horizon,
                                             float(comp[-1] / events.times[-1]) if comp.size else float("nan")))
    return GoodnessReport(dims=out, branching_ratio=float("nan"), stationary_intensity=None)
