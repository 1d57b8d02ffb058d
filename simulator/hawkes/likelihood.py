"""Exact log-likelihood of an exponential-kernel Hawkes path and its analytic gradient.

The recursion keeps, for every pair ``(i, j)``,

    A[i, j](t) = sum_{t_k^j < t} exp(-beta[i, j] (t - t_k^j))
    B[i, j](t) = sum_{t_k^j < t} (t - t_k^j) exp(-beta[i, j] (t - t_k^j))   (= -dA/dbeta)

so that ``lambda_i = mu_i + sum_j alpha_ij beta_ij A_ij`` and every derivative is a closed form in
A and B. This is the usual recursive form, but each entry is decayed lazily (only when it is read
or incremented): an event of dimension m touches row m and column m only, so a pass costs
O(N * D) exponentials instead of the textbook O(N * D^2), which is what lets a fit with free
decays afford hundreds of passes over 10^5-10^6 events.

Gradients are returned in the natural parametrisation (mu, alpha, beta); the fitter chains them
into whatever parametrisation it optimises.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.params import HawkesParams

FloatArray = NDArray[np.float64]


@njit(cache=True)
def _loglik_grad(
    times: FloatArray,
    dims: NDArray[np.int64],
    horizon: float,
    mu: FloatArray,
    alpha: FloatArray,
    beta: FloatArray,
    g_mu: FloatArray,
    g_alpha: FloatArray,
    g_beta: FloatArray,
    want_grad: bool,
) -> float:
    d = mu.shape[0]
    a = np.zeros((d, d))
    b = np.zeros((d, d))
    last = np.zeros((d, d))  # time at which entry (i, j) of a and b is current
    counts = np.zeros(d)
    g_mu[:] = 0.0
    g_alpha[:, :] = 0.0
    g_beta[:, :] = 0.0
    ll = 0.0
    n = times.shape[0]
    for k in range(n):
        t = times[k]
        m = dims[k]
        # bring row m up to t and read the intensity of the event's own dimension
        lam = mu[m]
        for j in range(d):
            dt = t - last[m, j]
            if dt > 0.0:
                e = np.exp(-beta[m, j] * dt)
                b[m, j] = e * (b[m, j] + dt * a[m, j])
                a[m, j] = e * a[m, j]
                last[m, j] = t
            lam += alpha[m, j] * beta[m, j] * a[m, j]
        if lam <= 0.0:
            return -np.inf
        ll += np.log(lam)
        if want_grad:
            inv = 1.0 / lam
            g_mu[m] += inv
            for j in range(d):
                g_alpha[m, j] += beta[m, j] * a[m, j] * inv
                g_beta[m, j] += alpha[m, j] * (a[m, j] - beta[m, j] * b[m, j]) * inv
        # the event now excites column m of every row
        for i in range(d):
            dt = t - last[i, m]
            if dt > 0.0:
                e = np.exp(-beta[i, m] * dt)
                b[i, m] = e * (b[i, m] + dt * a[i, m])
                a[i, m] = e * a[i, m]
                last[i, m] = t
            a[i, m] += 1.0
        counts[m] += 1.0
    # compensator: mu_i T + sum_j alpha_ij * sum_k (1 - exp(-beta_ij (T - t_k^j)))
    for i in range(d):
        ll -= mu[i] * horizon
        if want_grad:
            g_mu[i] -= horizon
        for j in range(d):
            dt = horizon - last[i, j]
            aa = a[i, j]
            bb = b[i, j]
            if dt > 0.0:
                e = np.exp(-beta[i, j] * dt)
                bb = e * (bb + dt * aa)
                aa = e * aa
            comp = counts[j] - aa
            ll -= alpha[i, j] * comp
            if want_grad:
                g_alpha[i, j] -= comp
                g_beta[i, j] -= alpha[i, j] * bb
    return ll


def loglik(params: HawkesParams, events: HawkesEvents) -> float:
    """Log-likelihood of the path on ``[0, events.horizon]`` given an empty history before 0."""
    return loglik_grad(params, events, want_grad=False)[0]


def loglik_grad(
    params: HawkesParams, events: HawkesEvents, *, want_grad: bool = True
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """``(loglik, d/dmu (D,), d/dalpha (D,D), d/dbeta (D,D))``."""
    if events.dim != params.dim:
        raise ValueError(f"events have {events.dim} dimensions, params {params.dim}")
    return loglik_grad_arrays(events.times, events.dims, events.horizon, params.mu, params.alpha, params.beta,
                              want_grad=want_grad)


def loglik_grad_arrays(
    times: FloatArray,
    dims: NDArray[np.int64],
    horizon: float,
    mu: FloatArray,
    alpha: FloatArray,
    beta: FloatArray,
    *,
    want_grad: bool = True,
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """Array form without the HawkesParams validation, for the optimiser's inner loop.

    The optimiser may visit alpha == 0 or tiny mu, which HawkesParams accepts, but it must not pay
    for re-validating and copying on every one of its hundreds of evaluations.
    """
    d = mu.shape[0]
    g_mu = np.zeros(d)
    g_alpha = np.zeros((d, d))
    g_beta = np.zeros((d, d))
    ll = _loglik_grad(times, dims, float(horizon), np.ascontiguousarray(mu, dtype=np.float64),
                      np.ascontiguousarray(alpha, dtype=np.float64), np.ascontiguousarray(beta, dtype=np.float64),
                      g_mu, g_alpha, g_beta, want_grad)
    return float(ll), g_mu, g_alpha, g_beta


@njit(cache=True, nogil=True)
def row_loglik_grad(
    times: FloatArray,
    dims: NDArray[np.int64],
    horizon: float,
    i: int,
    mu_i: float,
    alpha_i: FloatArray,
    beta_i: FloatArray,
    g_alpha_i: FloatArray,
    g_beta_i: FloatArray,
) -> tuple[float, float]:
    """The dimension-``i`` term of the log-likelihood, ``(ll_i, d ll_i / d mu_i)``, gradients in place.

    The log-likelihood is a sum over target dimensions whose i-th term depends only on row i of
    (mu, alpha, beta), so a fit can optimise D small problems instead of one large one; this is
    the per-row pass (one exponential per event plus D per event of dimension i), compiled without
    the GIL so rows can be evaluated from parallel threads.
    """
    d = alpha_i.shape[0]
    a = np.zeros(d)
    b = np.zeros(d)
    last = np.zeros(d)
    counts = np.zeros(d)
    g_alpha_i[:] = 0.0
    g_beta_i[:] = 0.0
    g_mu = 0.0
    ll = 0.0
    for k in range(times.shape[0]):
        t = times[k]
        m = dims[k]
        if m == i:
            lam = mu_i
            for j in range(d):
                dt = t - last[j]
                if dt > 0.0:
                    e = np.exp(-beta_i[j] * dt)
                    b[j] = e * (b[j] + dt * a[j])
                    a[j] = e * a[j]
                    last[j] = t
                lam += alpha_i[j] * beta_i[j] * a[j]
            if lam <= 0.0:
                return -np.inf, 0.0
            ll += np.log(lam)
            inv = 1.0 / lam
            g_mu += inv
            for j in range(d):
                g_alpha_i[j] += beta_i[j] * a[j] * inv
                g_beta_i[j] += alpha_i[j] * (a[j] - beta_i[j] * b[j]) * inv
        else:
            dt = t - last[m]
            if dt > 0.0:
                e = np.exp(-beta_i[m] * dt)
                b[m] = e * (b[m] + dt * a[m])
                a[m] = e * a[m]
                last[m] = t
        a[m] += 1.0
        counts[m] += 1.0
    ll -= mu_i * horizon
    g_mu -= horizon
    for j in range(d):
        dt = horizon - last[j]
        aa = a[j]
        bb = b[j]
        if dt > 0.0:
            e = np.exp(-beta_i[j] * dt)
            bb = e * (bb + dt * aa)
            aa = e * aa
        comp = counts[j] - aa
        ll -= alpha_i[j] * comp
        g_alpha_i[j] -= comp
        g_beta_i[j] -= alpha_i[j] * bb
    return ll, g_mu
