"""Maximum-likelihood fit of the multi-scale, time-varying-baseline model, and model choice.

How, and why:

* With the decays given, ``lambda_i(t_n) = baseline[i, bin(t_n)] + G[n] . a_i`` where
  ``G[n, j*K + k] = decays[k] * A_jk(t_n-)`` does not depend on the parameters. The row-i
  log-likelihood ``sum log(lambda) - lens . baseline_i - comp . a_i`` is then *concave*: each row
  is a small convex problem (B + D*K parameters) solved to its global optimum by L-BFGS-B with
  the analytic gradient, from one pass that builds ``G`` for all rows at once (the excitation
  state of a shared decay grid does not depend on the target).
* The decays (shared by all pairs: a basis of K time scales) are fitted on the profile
  likelihood: an outer L-BFGS-B over ``log decays`` whose gradient comes from the envelope
  theorem (the inner optimum's own gradient in the decays, from ``dG/d decay`` built in the same
  pass), each inner solve warm-started from the previous one. Only K numbers are non-convex.
* Time is rescaled so the pooled rate is 1 (as in :mod:`simulator.hawkes.fit`), so tolerances and
  start decays mean the same on microsecond LOBSTER flow and on hours of trades.
* Stationarity couples rows only through ``rho(alpha.sum(-1)) < max_spectral_radius``; if the
  row-wise optimum breaks it, a joint penalised fit (Perron-root gradient) continues from it.
* Model choice: :func:`select_model` fits a grid of (scales, baseline bins) plus the stationary
  exponential-per-pair model and picks the smallest BIC (AIC is reported too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy.optimize import minimize

from simulator.hawkes._blas import single_threaded_blas
from simulator.hawkes.criteria import InformationCriteria
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.fit import FitResult, _perron_grad, fit
from simulator.hawkes.goodness import GoodnessReport
from simulator.hawkes.multiscale import MultiScaleParams, goodness_multiscale
from simulator.hawkes.params import HawkesParams

FloatArray = NDArray[np.float64]

START_DECAY_RANGES: tuple[tuple[float, float], ...] = ((0.1, 1000.0), (0.01, 100.0), (0.03, 3000.0),
                                                      (0.3, 30000.0))
"""Start grids: K decays spanning each range geometrically, in units of the pooled event rate. The
profile likelihood in the decays is multimodal (a 10-dimensional test model started from the first
grid alone ended with every decay ~40x too fast), so starts are compared on a prefix first."""


@njit(cache=True, nogil=True)
def _features(times: FloatArray, dims: NDArray[np.int64], horizon: float, d: int, decays: FloatArray,
              want_deriv: bool) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``G`` (N, D*K), ``dG/d decay`` (N, D*K) and the compensator terms ``comp``, ``d comp/d decay``."""
    n = times.shape[0]
    k_sc = decays.shape[0]
    g = np.empty((n, d * k_sc))
    dg = np.empty((n, d * k_sc)) if want_deriv else np.empty((0, d * k_sc))
    a = np.zeros((d, k_sc))
    b = np.zeros((d, k_sc))
    e = np.empty(k_sc)
    t_last = 0.0
    for m in range(n):
        t = times[m]
        dt = t - t_last
        if dt > 0.0:
            for k in range(k_sc):
                e[k] = np.exp(-decays[k] * dt)
            for j in range(d):
                for k in range(k_sc):
                    if want_deriv:
                        b[j, k] = e[k] * (b[j, k] + dt * a[j, k])
                    a[j, k] *= e[k]
            t_last = t
        for j in range(d):
            for k in range(k_sc):
                g[m, j * k_sc + k] = decays[k] * a[j, k]
                if want_deriv:
                    dg[m, j * k_sc + k] = a[j, k] - decays[k] * b[j, k]
        a[dims[m], :] += 1.0
    comp = np.zeros(d * k_sc)
    dcomp = np.zeros(d * k_sc)
    for m in range(n):
        dt = horizon - times[m]
        j = dims[m]
        for k in range(k_sc):
            x = np.exp(-decays[k] * dt)
            comp[j * k_sc + k] += 1.0 - x
            dcomp[j * k_sc + k] += dt * x
    return g, dg, comp, dcomp


@dataclass
class _Row:
    """One target dimension's data in rescaled time."""

    idx: NDArray[np.int64]  # positions of its events in the full stream
    bins: NDArray[np.int64]  # baseline bin of each of its events
    n: int


def _row_obj(theta: FloatArray, gi: FloatArray, bins: NDArray[np.int64], lens: FloatArray,
             comp: FloatArray, n: int) -> tuple[float, FloatArray]:
    nb = lens.shape[0]
    mu, a = theta[:nb], theta[nb:]
    lam = mu[bins] + gi @ a
    if np.any(lam <= 0.0):
        return 1e300, np.zeros_like(theta)
    inv = 1.0 / lam
    f = -(float(np.sum(np.log(lam))) - float(lens @ mu) - float(comp @ a)) / n
    grad = np.empty_like(theta)
    grad[:nb] = -(np.bincount(bins, weights=inv, minlength=nb) - lens) / n
    grad[nb:] = -(gi.T @ inv - comp) / n
    return f, grad


@dataclass(frozen=True)
class MultiScaleFit(InformationCriteria):
    params: MultiScaleParams
    loglik: float
    n_params: int
    n_events: int
    converged: bool
    message: str
    spectral_radius: float
    goodness: GoodnessReport
    n_outer: int = 0  # profile-likelihood evaluations of the final decay optimisation (starts excluded)
    decay_path: list[list[float]] = field(default_factory=list)


class _Problem:
    """The rescaled data and the warm-started inner solves shared by every decay evaluation."""

    def __init__(self, events: HawkesEvents, edges: FloatArray, max_iter: int, tol: float) -> None:
        n = len(events)
        self.rate = n / events.horizon
        self.times = np.ascontiguousarray(events.times * self.rate)
        self.dims = events.dims
        self.horizon = events.horizon * self.rate
        self.d = events.dim
        self.edges = np.asarray(edges, dtype=np.float64) * self.rate
        self.lens = np.diff(self.edges)
        self.nb = self.lens.shape[0]
        bins = np.clip(np.searchsorted(self.edges, self.times, side="right") - 1, 0, self.nb - 1)
        self.rows = []
        for i in range(self.d):
            idx = np.flatnonzero(self.dims == i)
            self.rows.append(_Row(idx, bins[idx].astype(np.int64), int(idx.shape[0])))
        self.max_iter, self.tol = max_iter, tol
        self.theta: list[FloatArray] = []
        self.n_iter = 0
        self.messages: set[str] = set()
        self.ok = True

    def start(self, k_sc: int) -> None:
        self.theta = []
        for r in self.rows:
            rate_b = np.maximum(np.bincount(r.bins, minlength=self.nb) / self.lens, 1e-6)
            self.theta.append(np.concatenate([0.5 * rate_b, np.full(self.d * k_sc, 0.5 / (self.d * k_sc))]))

    def solve(self, decays: FloatArray, want_deriv: bool) -> tuple[float, FloatArray]:
        """Inner optimum for these (rescaled) decays: (total loglik, d loglik / d decays)."""
        g, dg, comp, dcomp = _features(self.times, self.dims, self.horizon, self.d, decays, want_deriv)
        k_sc = decays.shape[0]
        bounds = [(1e-10, None)] * self.nb + [(0.0, 100.0)] * (self.d * k_sc)
        total = 0.0
        grad = np.zeros(k_sc)
        self.ok, self.messages = True, set()
        for i, r in enumerate(self.rows):
            gi = g[r.idx]
            res = minimize(_row_obj, self.theta[i], args=(gi, r.bins, self.lens, comp, r.n), jac=True,
                           method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": 1e-9})
            th = np.asarray(res.x)
            self.theta[i] = th
            self.n_iter += int(res.nit)
            self.ok &= bool(res.success)
            self.messages.add(str(res.message))
            total += -float(res.fun) * r.n
            if want_deriv:
                a = th[self.nb:]
                lam = th[:self.nb][r.bins] + gi @ a
                # envelope theorem: d ll_i / d decay_k = sum_j a_ijk (sum_n dG[n,jk]/lam_n - dcomp_jk)
                per = (dg[r.idx].T @ (1.0 / lam) - dcomp) * a
                grad += per.reshape(self.d, k_sc).sum(axis=0)
        return total, grad

    def joint(self, decays: FloatArray, max_rho: float, penalty: float) -> None:
        """Joint penalised fit of all rows when the row-wise optimum is not stationary enough."""
        g, _, comp, _ = _features(self.times, self.dims, self.horizon, self.d, decays, False)
        k_sc = decays.shape[0]
        p = self.nb + self.d * k_sc
        n_all = float(sum(r.n for r in self.rows))

        def obj(x: FloatArray) -> tuple[float, FloatArray]:
            f_tot, grad = 0.0, np.empty_like(x)
            for i, r in enumerate(self.rows):
                f, gr = _row_obj(x[i * p:(i + 1) * p], g[r.idx], r.bins, self.lens, comp, r.n)
                f_tot += f * r.n / n_all
                grad[i * p:(i + 1) * p] = gr * r.n / n_all
            alpha = x.reshape(self.d, p)[:, self.nb:].reshape(self.d, self.d, k_sc)
            rho, drho = _perron_grad(alpha.sum(axis=2))
            if rho > max_rho:
                f_tot += penalty * (rho - max_rho) ** 2
                ga = grad.reshape(self.d, p)[:, self.nb:].reshape(self.d, self.d, k_sc)
                ga += 2.0 * penalty * (rho - max_rho) * drho[:, :, None]
            return f_tot, grad

        bounds = ([(1e-10, None)] * self.nb + [(0.0, 100.0)] * (self.d * k_sc)) * self.d
        res = minimize(obj, np.concatenate(self.theta), jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": 1e-9})
        x = np.asarray(res.x)
        self.theta = [x[i * p:(i + 1) * p].copy() for i in range(self.d)]
        self.n_iter += int(res.nit)
        self.ok = bool(res.success)
        self.messages = {f"joint penalised fit: {res.message}"}

    def params(self, decays: FloatArray) -> MultiScaleParams:
        k_sc = decays.shape[0]
        base = np.array([th[:self.nb] for th in self.theta]) * self.rate
        alpha = np.array([th[self.nb:].reshape(self.d, k_sc) for th in self.theta])
        return MultiScaleParams(base, self.edges / self.rate, alpha, decays * self.rate)


def fit_multiscale(
    events: HawkesEvents,
    *,
    n_scales: int = 2,
    n_bins: int = 1,
    edges: Sequence[float] | None = None,
    decays: Sequence[float] | FloatArray | None = None,
    fit_decays: bool = True,
    max_spectral_radius: float = 0.99,
    penalty: float = 1e3,
    max_iter: int = 2000,
    outer_iter: int = 40,
    tol: float = 1e-10,
    start_events: int = 20_000,
    start_iter: int = 10,
) -> MultiScaleFit:
    """Fit baselines on ``n_bins`` equal bins (or ``edges``, s) and K = ``n_scales`` shared decays.

    ``decays`` (1/s) sets the start grid; by default each grid of ``START_DECAY_RANGES`` is tried
    for ``start_iter`` outer steps on the first ``start_events`` events (a stopping time, so still a
    valid likelihood) and the best is run to convergence on all of them. ``fit_decays=False`` holds
    ``decays`` fixed, leaving a purely convex fit.
    """
    d, n = events.dim, len(events)
    if n < 2 * d:
        raise ValueError(f"need at least {2 * d} events to fit a {d}-dimensional model, got {n}")
    if np.any(events.counts() == 0):
        raise ValueError("dimensions with no events cannot be fitted")
    if np.any(np.diff(events.times) == 0.0):
        raise ValueError("events share timestamps: separate ties first (simulator.calibration.flow.separate_ties)")
    e = np.linspace(0.0, events.horizon, n_bins + 1) if edges is None else np.asarray(edges, dtype=np.float64)
    if e[0] != 0.0 or abs(e[-1] - events.horizon) > 1e-9 * max(1.0, events.horizon):
        raise ValueError("edges must run from 0 to the horizon")
    prob = _Problem(events, e, max_iter, tol)
    if decays is None and not fit_decays:
        raise ValueError("fit_decays=False needs decays")
    path: list[list[float]] = []
    n_outer = 0
    with single_threaded_blas():
        if decays is not None:
            z0 = np.asarray(decays, dtype=np.float64) / prob.rate
        else:
            grids = [np.geomspace(lo, hi, n_scales) if n_scales > 1 else np.array([np.sqrt(lo * hi)])
                     for lo, hi in START_DECAY_RANGES]
            z0 = grids[0]
            if n > start_events and len(grids) > 1:
                sub = events.truncate(start_events)
                e_sub = np.append(e[e < sub.horizon], sub.horizon)
                pre = _Problem(sub, e_sub, max_iter, 1e-8)
                best = np.inf
                for g in grids:
                    zg, f = _outer(pre, g, start_iter, len(sub), [])
                    if f < best:
                        best, z0 = f, zg * pre.rate / prob.rate
            elif len(grids) > 1:
                best = np.inf
                for g in grids:
                    zg, f = _outer(prob, g, start_iter, n, [])
                    if f < best:
                        best, z0 = f, zg
        k_sc = z0.shape[0]
        if fit_decays:
            z, _ = _outer(prob, z0, outer_iter, n, path)
            n_outer = len(path)
            z = np.sort(z)[::-1].copy()
            prob.start(k_sc)  # re-solve cleanly at the chosen decays (sorted fast to slow)
        else:
            z = z0
            prob.start(k_sc)
        prob.solve(z, False)
        p = prob.params(z)
        if p.spectral_radius() > max_spectral_radius:
            prob.joint(z, max_spectral_radius, penalty)
            p = prob.params(z)
    ll = loglik_multiscale(p, events)
    return MultiScaleFit(params=p, loglik=ll, n_params=p.n_free() - (0 if fit_decays else k_sc), n_events=n,
                         converged=prob.ok, message="; ".join(sorted(prob.messages)),
                         spectral_radius=p.spectral_radius(), goodness=goodness_multiscale(p, events),
                         n_outer=n_outer, decay_path=path)


def _outer(prob: _Problem, z0: FloatArray, max_outer: int, n: int, path: list[list[float]]
           ) -> tuple[FloatArray, float]:
    """Profile-likelihood optimisation of the (rescaled) decays from ``z0``: (decays, objective)."""
    k_sc = z0.shape[0]
    prob.start(k_sc)
    log_lo, log_hi = float(np.log(1.0 / prob.horizon)), float(np.log(1e6))

    def outer(x: FloatArray) -> tuple[float, FloatArray]:
        z = np.exp(x)
        ll, g = prob.solve(z, True)
        path.append((z * prob.rate).tolist())
        return -ll / n, -g * z / n

    res = minimize(outer, np.log(np.clip(z0, np.exp(log_lo), np.exp(log_hi))), jac=True, method="L-BFGS-B",
                   bounds=[(log_lo, log_hi)] * k_sc, options={"maxiter": max_outer, "ftol": 1e-12, "gtol": 1e-7})
    return np.exp(np.asarray(res.x)), float(res.fun)


def loglik_multiscale(params: MultiScaleParams, events: HawkesEvents) -> float:
    """Exact log-likelihood of the path on ``[0, events.horizon]`` (profile from time 0)."""
    g, _, comp, _ = _features(events.times, events.dims, events.horizon, events.dim, params.decays, False)
    bins = np.clip(np.searchsorted(params.edges, np.mod(events.times, params.period), side="right") - 1,
                   0, params.n_bins - 1)
    lam = params.baseline[events.dims, bins] + np.einsum("nc,nc->n", g,
                                                         params.alpha.reshape(params.dim, -1)[events.dims])
    full_periods, rest = divmod(events.horizon, params.period)
    lens = np.diff(params.edges) * full_periods + np.clip(rest - params.edges[:-1], 0.0, np.diff(params.edges))
    return float(np.sum(np.log(lam)) - float(np.sum(params.baseline @ lens))
                 - float(params.alpha.reshape(params.dim, -1).sum(axis=0) @ comp))


@dataclass(frozen=True)
class Candidate:
    """One model tried by :func:`select_model`."""

    name: str
    n_scales: int  # 0 for the stationary exponential-per-pair model
    n_bins: int
    loglik: float
    n_params: int
    aic: float
    bic: float
    goodness: GoodnessReport
    params: MultiScaleParams | HawkesParams


@dataclass(frozen=True)
class ModelChoice:
    candidates: list[Candidate]
    criterion: str
    best: Candidate


def select_model(events: HawkesEvents, *, scales: Sequence[int] = (1, 2, 3), bins: Sequence[int] = (1, 6),
                 criterion: str = "bic", include_exp_per_pair: bool = True,
                 exp_fit: FitResult | None = None) -> ModelChoice:
    """Fit each (scales x bins) model, and the stationary one-exponential-per-pair model, then pick
    the smallest ``criterion`` ("bic" or "aic") on these data. ``exp_fit`` reuses a fit of the
    stationary model already made on the same events."""
    if criterion not in ("bic", "aic"):
        raise ValueError("criterion must be 'bic' or 'aic'")
    n = len(events)
    out: list[Candidate] = []
    if include_exp_per_pair:
        r = exp_fit if exp_fit is not None else fit(events)
        p = events.dim + 2 * events.dim ** 2
        out.append(Candidate("exp per pair, constant baseline", 0, 1, r.loglik, p, 2 * p - 2 * r.loglik,
                             p * np.log(n) - 2 * r.loglik, r.goodness, r.params))
    for k in scales:
        for b in bins:
            f = fit_multiscale(events, n_scales=k, n_bins=b)
            out.append(Candidate(f"{k} scale{'s' if k > 1 else ''}, {b} baseline bin{'s' if b > 1 else ''}", k, b,
                                 f.loglik, f.n_params, f.aic, f.bic, f.goodness, f.params))
    best = min(out, key=lambda c: c.bic if criterion == "bic" else c.aic)
    return ModelChoice(out, criterion, best)
