"""Own-age factors on a curve: the age-modulated multi-scale model of
:mod:`simulator.hawkes.multiscale_age` with each dimension's factors a smooth function of log age
instead of one free number per age class.

Intensity of dimension ``i``, as in the class model::

    lambda_i(t) = h[i, a_i(t)] * ( baseline[i, bin(t)] + sum_jk alpha[i, j, k] * decays[k] * A_jk(t) )

but with ``log h[i, c] = b_i . X[c]`` (plus a row scale absorbed into the baseline and weights),
``X`` a fixed design over the age classes: Legendre polynomials of degree 1..p in the log of each
class's representative age (:func:`age_design`). The factors stay piecewise constant over the same
age classes, so the sampler of :mod:`simulator.hawkes.multiscale_age_sim` draws the model as it is
(``AgeFactors`` of the evaluated curve), and the compensator is integrated over the same grid.

Why: on the 30-minute windows the free class factors cost ``D * (A - 1)`` parameters (56 for 8
dimensions over 8 classes), and the information criteria weigh that: BIC's penalty for 56 of them
on ~4,000 events is ~470, more than the log-likelihood the factors gain in most windows. A curve
with ``p`` coefficients per dimension (p = 2 or 3) costs ``D * p``; where the class factors follow
a smooth shape in log age (a refractory dip after an event, a re-quoting bump near 0.5 s) the
curve keeps most of their likelihood. Where they do not, the criterion keeps the class model: the
curve is a further candidate, not a replacement.

Fit: the alternating scheme of the class model (rows concave given ``h``), with the closed-form
class ratios replaced by a Poisson regression: given the row, the factor part of its
log-likelihood is ``sum_c n_c log h_c - h_c C_c`` (``n_c`` events and ``C_c`` unscaled compensator
mass in class ``c``), concave in ``(scale, b)`` for ``log h = scale + X b``, solved by damped Newton.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.hawkes._blas import single_threaded_blas
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AGE_EDGES, AgeModulatedFit, _row_given_h, _row_grid, goodness_age

FloatArray = NDArray[np.float64]

CURVE_DEGREES = (1, 2, 3)
"""Degrees of the own-age curves the calibrations try; the criterion picks among them, the class
model and the rest."""


def class_log_ages(age_edges: FloatArray) -> FloatArray:
    """log10 of a representative age per class: the geometric middle of inner classes; half a
    decade (of the first edge's spacing to the next) below the first edge and above the last."""
    le = np.log10(np.asarray(age_edges, dtype=np.float64))
    if le.size == 1:
        return np.array([le[0] - 0.5, le[0] + 0.5])
    return np.concatenate([[le[0] - 0.5 * (le[1] - le[0])], 0.5 * (le[1:] + le[:-1]),
                           [le[-1] + 0.5 * (le[-1] - le[-2])]])


def age_design(age_edges: FloatArray | tuple[float, ...], degree: int) -> FloatArray:
    """(classes, degree): Legendre polynomials P_1..P_degree of the class log ages mapped onto
    [-1, 1]. Orthogonal-ish columns keep the Newton steps well conditioned; no constant column (the
    row's scale is the baseline's and weights')."""
    x = class_log_ages(np.asarray(age_edges, dtype=np.float64))
    if not 1 <= degree < x.size:
        raise ValueError(f"degree must lie in [1, {x.size - 1}] for {x.size} age classes")
    z = 2.0 * (x - x[0]) / (x[-1] - x[0]) - 1.0
    return np.stack([np.polynomial.legendre.Legendre.basis(k)(z) for k in range(1, degree + 1)], axis=1)


def poisson_curve(n: FloatArray, c: FloatArray, design: FloatArray, b0: FloatArray | None = None,
                  max_iter: int = 50) -> tuple[float, FloatArray]:
    """``(scale, b)`` maximising ``sum_c n_c (scale + X_c b) - C_c exp(scale + X_c b)`` over the
    classes with compensator mass (the others have no time, so no say). Damped Newton: the
    objective is concave, the step halves until it rises."""
    keep = c > 0
    z = np.column_stack([np.ones(int(keep.sum())), design[keep]])
    nk, ck = n[keep], c[keep]
    p = z.shape[1]
    beta = np.zeros(p)
    beta[0] = np.log(max(float(nk.sum()), 1e-3) / float(ck.sum()))
    if b0 is not None:
        beta[1:] = b0
        beta[0] = np.log(max(float(nk.sum()), 1e-3) / float(ck @ np.exp(design[keep] @ b0)))

    def obj(bt: FloatArray) -> float:
        eta = z @ bt
        return float(nk @ eta - ck @ np.exp(eta))

    f = obj(beta)
    ridge = 1e-9 * max(float(nk.sum()), 1.0)
    for _ in range(max_iter):
        mu = ck * np.exp(z @ beta)
        grad = z.T @ (nk - mu)
        hess = (z * mu[:, None]).T @ z + ridge * np.eye(p)
        step = np.linalg.solve(hess, grad)
        s = 1.0
        while s > 1e-8:
            cand = beta + s * step
            fc = obj(cand)
            if fc >= f:
                break
            s *= 0.5
        else:
            break
        gain = fc - f
        beta, f = cand, fc
        if gain < 1e-12 * max(1.0, abs(f)):
            break
    return float(beta[0]), beta[1:]


def fit_age_curve(params: MultiScaleParams, events: HawkesEvents, degree: int = 2,
                  age_edges: tuple[float, ...] = AGE_EDGES, *, max_rounds: int = 50,
                  tol: float = 1e-7) -> AgeModulatedFit:
    """Fit the own-age curve (``degree`` coefficients per dimension) and refit baselines and
    weights at ``params``' decays and bins on ``events``. The result is an
    :class:`~simulator.hawkes.multiscale_age.AgeModulatedFit` whose ``factors`` are the curve
    evaluated per class (1 in each row's most visited class, as the class model normalises) and
    whose ``n_params`` counts ``degree`` per dimension, not a factor per class."""
    ae = np.asarray(age_edges, dtype=np.float64)
    if ae.ndim != 1 or ae.size == 0 or np.any(np.diff(ae) <= 0) or ae[0] <= 0:
        raise ValueError("age_edges must be positive and increasing")
    if abs(params.period - events.horizon) > 1e-9 * max(1.0, events.horizon):
        raise ValueError("the multi-scale fit must cover the same window (edges end at the horizon)")
    x = age_design(ae, degree)
    d, nb, k_sc, na = params.dim, params.n_bins, params.n_scales, ae.size + 1
    theta = [np.concatenate([params.baseline[i], params.alpha[i].reshape(-1)]) for i in range(d)]
    h = np.ones((d, na))
    coef = np.zeros((d, degree))
    ok, ll_rows = True, np.zeros(d)
    with single_threaded_blas():
        for i in range(d):
            r = _row_grid(events, i, params.decays, ae, params.edges)
            ts = np.zeros((na, nb))
            np.add.at(ts, (r.cell, r.bins), r.length)
            igs = np.zeros((na, r.dig.shape[1]))
            np.add.at(igs, r.cell, r.dig)
            n_cell = np.bincount(r.cell_at_events, minlength=na).astype(np.float64)
            ra = int(np.argmax(ts.sum(axis=1)))
            ll_prev = -np.inf
            conv = True
            for _ in range(max_rounds):
                theta[i], conv = _row_given_h(theta[i], h[i], r, ts, igs, nb)
                c = ts @ theta[i][:nb] + igs @ theta[i][nb:]
                _, coef[i] = poisson_curve(n_cell, c, x, coef[i])
                h[i] = np.exp(x @ coef[i])
                # the row's scale: closed form given the curve, then moved into baseline and weights
                # so that the factor is 1 in the most visited class
                scale = max(float(n_cell.sum()), 1e-3) / float(h[i] @ c) if h[i] @ c > 0 else 1.0
                theta[i] = theta[i] * scale * h[i][ra]
                h[i] /= h[i][ra]
                lam = h[i][r.cell_at_events] * (theta[i][:nb][r.bins_at_events] + r.g @ theta[i][nb:])
                ll_rows[i] = float(np.sum(np.log(lam)) - h[i] @ (ts @ theta[i][:nb]) - h[i] @ (igs @ theta[i][nb:]))
                if ll_rows[i] - ll_prev < tol * max(1.0, abs(ll_rows[i])):
                    break
                ll_prev = ll_rows[i]
            ok &= conv
    base = MultiScaleParams(np.array([th[:nb] for th in theta]).clip(min=1e-300), params.edges.copy(),
                            np.array([th[nb:].reshape(d, k_sc) for th in theta]), params.decays.copy())
    gof = goodness_age(base, h, ae, events)
    return AgeModulatedFit(base=base, factors=h, age_edges=ae, loglik=float(ll_rows.sum()),
                           n_params=int(d * (nb + d * k_sc) + k_sc + d * degree), n_events=len(events),
                           goodness=gof, converged=bool(ok), state_factors=np.ones((d, 1)), degree=degree)
