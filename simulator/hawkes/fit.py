"""Maximum-likelihood fit of baselines, branching ratios AND decays.

Choices, and why:

* Time is rescaled so the pooled event rate is 1 before optimising (``mu' = mu / r``,
  ``beta' = beta / r``, alpha unchanged) and the objective is the negative log-likelihood per
  event. L-BFGS-B is not scale invariant; this makes its tolerances and the decay bounds mean the
  same thing whether the data are seconds of LOBSTER messages or hours of trades.
* Decays are optimised as ``log beta``: they range over orders of magnitude and the likelihood is
  far closer to quadratic in log-decay. Their bounds are deliberately wide (from one event per
  window to 10^6 times the pooled rate), so a decay that ends at a bound is a finding about the
  data (reported in ``decays_at_bound``), not an artefact of a tight box as in the reference
  paper's code.
* mu and alpha are optimised directly with the box ``mu > 0, alpha >= 0``, so a truly absent
  excitation can reach exactly zero (a log-parametrisation could never get there).
* Stationarity: a quadratic penalty on ``spectral_radius(alpha) - max_spectral_radius`` with the
  analytic gradient of the Perron root (``v u^T / v^T u``), so the optimiser is steered back
  smoothly rather than hitting a wall. The fitted radius is always reported.
* Separability: the log-likelihood is a sum of one term per target dimension that depends on
  one row of (mu, alpha, beta) only. Rows are fitted as D independent (1 + 2D)-parameter problems,
  in parallel threads, which needs far fewer evaluations than one D(1 + 2D)-parameter problem.
  The penalty is the only coupling; it is applied jointly only when the row-wise optimum breaks it.
* Initialisation: per row, a few short runs from different common decay scales (the likelihood in
  beta is multimodal when kernels of different speeds mix), compared on a prefix of the data and
  each started from the moment-matching point ``alpha = 0.5 / D``, ``mu = (I - alpha) lambda_emp``;
  the best one is run to convergence on all the data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from simulator.hawkes._blas import single_threaded_blas
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.goodness import GoodnessReport, goodness_of_fit
from simulator.hawkes.likelihood import loglik_grad_arrays, row_loglik_grad
from simulator.hawkes.params import HawkesParams

FloatArray = NDArray[np.float64]

DEFAULT_DECAY_SCALES: tuple[float, ...] = (0.5, 3.0, 20.0, 150.0)
"""Start decays, in units of the pooled event rate."""


@dataclass(frozen=True)
class FitResult:
    params: HawkesParams
    loglik: float
    n_iter: int
    n_eval: int
    converged: bool
    message: str
    spectral_radius: float
    goodness: GoodnessReport
    decays_at_bound: list[tuple[int, int]] = field(default_factory=list)
    starts: list[tuple[float, float]] = field(default_factory=list)
    """(start decay in 1/s, mean log-likelihood per event of the row's prefix in rate-normalised time
    after the short run), row by row, for every start tried: shows whether the starts agreed or
    the choice of start mattered."""

    def summary(self) -> dict[str, object]:
        return {
            "loglik": self.loglik,
            "n_iter": self.n_iter,
            "n_eval": self.n_eval,
            "converged": self.converged,
            "message": self.message,
            "spectral_radius": self.spectral_radius,
            "decays_at_bound": self.decays_at_bound,
            "params": self.params.to_dict(),
            "goodness": self.goodness.to_dict(),
        }


def _perron_grad(alpha: FloatArray) -> tuple[float, FloatArray]:
    """Spectral radius of a non-negative matrix and its derivative ``v u^T / (v^T u)``."""
    w, vr = np.linalg.eig(alpha)
    k = int(np.argmax(w.real))
    rho = float(w[k].real)
    wl, vl = np.linalg.eig(alpha.T)
    kl = int(np.argmin(np.abs(wl - w[k])))
    u = np.real(vr[:, k])
    v = np.real(vl[:, kl])
    denom = float(v @ u)
    if abs(denom) < 1e-12:  # defective / degenerate eigenvalue: no usable derivative
        return rho, np.zeros_like(alpha)
    return rho, np.outer(v, u) / denom


class _Objective:
    """Negative log-likelihood per event in rescaled time, with the stationarity penalty."""

    def __init__(self, times: FloatArray, dims: NDArray[np.int64], horizon: float, d: int,
                 max_rho: float, penalty: float) -> None:
        self.times, self.dims, self.horizon, self.d = times, dims, horizon, d
        self.n = max(times.shape[0], 1)
        self.max_rho, self.penalty = max_rho, penalty
        self.n_eval = 0

    def unpack(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        d = self.d
        mu = x[:d]
        alpha = x[d:d + d * d].reshape(d, d)
        beta = np.exp(x[d + d * d:]).reshape(d, d)
        return mu, alpha, beta

    def __call__(self, x: FloatArray) -> tuple[float, FloatArray]:
        self.n_eval += 1
        mu, alpha, beta = self.unpack(x)
        ll, g_mu, g_alpha, g_beta = loglik_grad_arrays(self.times, self.dims, self.horizon, mu, alpha, beta)
        if not np.isfinite(ll):
            return 1e300, np.zeros_like(x)
        f = -ll / self.n
        g_a = -g_alpha / self.n
        rho, drho = _perron_grad(alpha)
        excess = rho - self.max_rho
        if excess > 0.0:
            f += self.penalty * excess * excess
            g_a = g_a + 2.0 * self.penalty * excess * drho
        grad = np.concatenate([-g_mu / self.n, g_a.ravel(), (-g_beta * beta / self.n).ravel()])
        return float(f), grad


class _RowObjective:
    """Negative dimension-i log-likelihood per event, over ``[mu_i, alpha_i (D), log beta_i (D)]``."""

    def __init__(self, times: FloatArray, dims: NDArray[np.int64], horizon: float, d: int, i: int,
                 n_norm: int) -> None:
        self.times, self.dims, self.horizon, self.d, self.i = times, dims, horizon, d, i
        self.n = max(n_norm, 1)
        self.g_alpha = np.zeros(d)
        self.g_beta = np.zeros(d)
        self.n_eval = 0

    def __call__(self, x: FloatArray) -> tuple[float, FloatArray]:
        self.n_eval += 1
        d = self.d
        alpha = np.ascontiguousarray(x[1:1 + d])
        beta = np.exp(x[1 + d:])
        ll, g_mu = row_loglik_grad(self.times, self.dims, self.horizon, self.i, float(x[0]), alpha, beta,
                                   self.g_alpha, self.g_beta)
        if not np.isfinite(ll):
            return 1e300, np.zeros_like(x)
        grad = np.empty_like(x)
        grad[0] = -g_mu / self.n
        grad[1:1 + d] = -self.g_alpha / self.n
        grad[1 + d:] = -self.g_beta * beta / self.n
        return float(-ll / self.n), grad


@dataclass
class _RowFit:
    x: FloatArray
    n_iter: int
    n_eval: int
    converged: bool
    message: str
    starts: list[tuple[float, float]]


def _fit_row(times: FloatArray, dims: NDArray[np.int64], horizon: float, d: int, i: int,
             starts: list[tuple[float, FloatArray]], n_prefix: int, bounds: list[tuple[float | None, float | None]],
             start_iter: int, max_iter: int, tol: float) -> _RowFit:
    n = times.shape[0]
    n_eval = 0
    tried: list[tuple[float, float]] = []
    if len(starts) == 1:
        x0 = starts[0][1]
    else:
        # Starts are compared on a prefix (a stopping time, so still a valid likelihood): choosing
        # the basin needs far less data than pinning the optimum down inside it.
        m = min(n, n_prefix)
        t_p, d_p = times[:m], dims[:m]
        h_p = float(times[m - 1]) if m < n else horizon
        best_f, x0 = np.inf, starts[0][1]
        for scale, xs in starts:
            obj_p = _RowObjective(t_p, d_p, h_p, d, i, m)
            r = minimize(obj_p, xs, jac=True, method="L-BFGS-B", bounds=bounds,
                         options={"maxiter": start_iter, "ftol": tol, "gtol": 1e-8})
            n_eval += obj_p.n_eval
            tried.append((scale, float(-r.fun)))
            if r.fun < best_f:
                best_f, x0 = float(r.fun), np.asarray(r.x)
    obj = _RowObjective(times, dims, horizon, d, i, n)
    r = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                 options={"maxiter": max_iter, "maxfun": 2 * max_iter, "ftol": tol, "gtol": 1e-8})
    return _RowFit(np.asarray(r.x), int(r.nit), n_eval + obj.n_eval, bool(r.success), str(r.message), tried)


def fit(
    events: HawkesEvents,
    *,
    decay_scales: Sequence[float] = DEFAULT_DECAY_SCALES,
    init: HawkesParams | None = None,
    max_spectral_radius: float = 0.99,
    penalty: float = 1e3,
    start_iter: int = 20,
    start_events: int = 10_000,
    max_iter: int = 3000,
    tol: float = 1e-9,
    n_threads: int | None = None,
    fit_decays: bool = True,
) -> FitResult:
    """Fit ``HawkesParams`` (mu, alpha, beta) to one path by penalised maximum likelihood.

    The log-likelihood is a sum of one term per target dimension, each depending on one row of
    the parameters only; so the rows are fitted as D independent small problems (in parallel
    threads: the likelihood pass runs without the GIL), which converges in far fewer evaluations
    than one joint problem. Only the stationarity penalty couples rows: if the row-wise optimum
    has ``spectral_radius(alpha) > max_spectral_radius``, a joint penalised fit continues from it.

    ``init`` replaces the multi-start with a single warm start (e.g. yesterday's calibration).
    ``fit_decays=False`` holds the decays at ``init.beta`` (the decay-given fit that tick's and
    intensify's fast paths do), for comparisons and for recalibrating only rates and branching.
    ``start_events`` bounds the prefix on which the starts are compared.
    Events must have distinct times (a ValueError otherwise): an exact tie lets the likelihood
    grow without bound as a decay goes to infinity, so recorded data with equal timestamps must
    be separated before fitting.
    """
    d = events.dim
    n = len(events)
    if n < 2 * d:
        raise ValueError(f"need at least {2 * d} events to fit a {d}-dimensional model, got {n}")
    counts = events.counts()
    if np.any(counts == 0):
        raise ValueError(f"dimensions with no events cannot be fitted: {np.flatnonzero(counts == 0).tolist()}")
    n_ties = int(np.count_nonzero(np.diff(events.times) == 0.0))
    if n_ties:
        raise ValueError(f"{n_ties} events share a timestamp with their predecessor: the likelihood is unbounded "
                         "in the decays there; separate ties first (simulator.calibration.flow.separate_ties)")
    rate = n / events.horizon
    times = np.ascontiguousarray(events.times * rate)
    dims = events.dims
    horizon = events.horizon * rate  # == n
    lam_emp = counts / horizon

    beta_lo, beta_hi = 1.0 / horizon, 1e6
    log_lo, log_hi = float(np.log(beta_lo)), float(np.log(beta_hi))
    row_bounds: list[tuple[float | None, float | None]] = [(1e-10, None)]
    row_bounds += [(0.0, 100.0)] * d + [(log_lo, log_hi)] * d

    def row_x(mu_i: float, alpha_i: FloatArray, beta_i: FloatArray) -> FloatArray:
        return np.concatenate([[mu_i], alpha_i, np.log(np.clip(beta_i, beta_lo, beta_hi))])

    if not fit_decays and init is None:
        raise ValueError("fit_decays=False needs init (its beta is held fixed)")
    row_starts: list[list[tuple[float, FloatArray]]] = []
    for i in range(d):
        if init is not None:
            if init.dim != d:
                raise ValueError("init has the wrong dimension")
            row_starts.append([(float(np.median(init.beta[i])),
                                row_x(init.mu[i] / rate, init.alpha[i].copy(), init.beta[i] / rate))])
        else:
            alpha0 = np.full(d, 0.5 / d)
            mu0 = max(lam_emp[i] - float(alpha0 @ lam_emp), 1e-3 * lam_emp[i])
            row_starts.append([(float(s) * rate, row_x(mu0, alpha0, np.full(d, float(s))))
                               for s in decay_scales])

    workers = max(1, min(d, n_threads if n_threads is not None else (os.cpu_count() or 1)))

    def one(i: int) -> _RowFit:
        bounds_i = row_bounds
        if not fit_decays:
            fixed = row_starts[i][0][1][1 + d:]
            bounds_i = row_bounds[:1 + d] + [(float(b), float(b)) for b in fixed]
        return _fit_row(times, dims, horizon, d, i, row_starts[i], start_events, bounds_i, start_iter,
                        max_iter, tol)

    with single_threaded_blas():
        if workers == 1:
            rows = [one(i) for i in range(d)]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                rows = list(pool.map(one, range(d)))

    mu_s = np.array([r.x[0] for r in rows])
    alpha = np.array([r.x[1:1 + d] for r in rows])
    beta_s = np.exp(np.array([r.x[1 + d:] for r in rows]))
    n_iter = sum(r.n_iter for r in rows)
    n_eval = sum(r.n_eval for r in rows)
    converged = all(r.converged for r in rows)
    message = "; ".join(sorted({r.message for r in rows}))

    if _perron_grad(alpha)[0] > max_spectral_radius:
        obj = _Objective(times, dims, horizon, d, max_spectral_radius, penalty)
        x0 = np.concatenate([mu_s, alpha.ravel(), np.log(beta_s).ravel()])
        bounds = [(1e-10, None)] * d + [(0.0, 100.0)] * (d * d) + (
            [(log_lo, log_hi)] * (d * d) if fit_decays else [(float(b), float(b)) for b in np.log(beta_s).ravel()])
        with single_threaded_blas():
            res = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": max_iter, "maxfun": 2 * max_iter, "ftol": tol, "gtol": 1e-8})
        mu_s, alpha, beta_s = (np.array(a, copy=True) for a in obj.unpack(np.asarray(res.x)))
        n_iter += int(res.nit)
        n_eval += obj.n_eval
        converged = bool(res.success)
        message = f"joint penalised fit: {res.message}"

    params = HawkesParams(mu_s * rate, alpha, beta_s * rate)
    ll_orig, *_ = loglik_grad_arrays(events.times, events.dims, events.horizon, params.mu, params.alpha,
                                     params.beta, want_grad=False)
    log_b = np.log(beta_s)
    at_bound = [] if not fit_decays else [(int(i), int(j)) for i, j in zip(*np.nonzero(
        (log_b <= log_lo + 1e-3) | (log_b >= log_hi - 1e-3)), strict=True)]
    return FitResult(
        params=params,
        loglik=ll_orig,
        n_iter=n_iter,
        n_eval=n_eval,
        converged=converged,
        message=message,
        spectral_radius=params.spectral_radius(),
        goodness=goodness_of_fit(params, events),
        decays_at_bound=at_bound,
        starts=[(s, ll) for r in rows for s, ll in r.starts],
    )


def fit_poisson(events: HawkesEvents) -> HawkesParams:
    """The no-excitation baseline (alpha = 0): the misspecified model a Hawkes fit must beat.

    alpha = 0 makes beta irrelevant; it is set to 1 only to satisfy the shared convention.
    """
    d = events.dim
    mu = np.maximum(events.counts() / events.horizon, 1e-300)
    return HawkesParams(mu, np.zeros((d, d)), np.ones((d, d)))
