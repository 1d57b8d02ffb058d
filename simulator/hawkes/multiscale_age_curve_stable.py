"""The own-age curve model of :mod:`simulator.hawkes.multiscale_age_curve` under the stability
constraint of :mod:`simulator.hawkes.multiscale_age_stable`: the most likely curve model whose
``rho(diag(f_young) x branching)`` is at most ``max_bound``.

Why a fit of its own: the class model's constrained fit frees every class factor, which would
leave the curve family (and its parameter count) behind; here the factors stay ``exp(X b_i)`` and
the coefficients ``b_i`` are what the optimiser moves. The class model's trick of turning the
constraint into boxes (factors <= 1) does not carry over (a curve bounded on the young classes is a
set of linear inequalities in ``b``), so the penalty is put on the exact spectral radius of
``diag(f_young) x branching`` instead, with its Perron-root gradient in the weights and, through
the young class holding each row's maximum, in the coefficients. A last uniform shrink of the
weights makes the bound hold exactly (the radius is linear in them). Same ladder, same stability
check, same parameter count as the unconstrained curve fit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from simulator.hawkes._blas import single_threaded_blas
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.fit import _perron_grad
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AgeModulatedFit, goodness_age
from simulator.hawkes.multiscale_age_curve import age_design
from simulator.hawkes.multiscale_age_stable import MAX_BOUND, PENALTIES, _Rows, scaled_start

FloatArray = NDArray[np.float64]


class _CurveRows(_Rows):
    """:class:`_Rows` with each row's factors ``exp(X b_i)``: variables (baseline, weights, b)."""

    def __init__(self, base: MultiScaleParams, events: HawkesEvents, age_edges: FloatArray, design: FloatArray) -> None:
        super().__init__(base, events, age_edges)
        self.x = design
        self.p_row = self.nb + self.d * self.k + design.shape[1]

    def factors(self, b: FloatArray) -> FloatArray:
        return np.asarray(np.exp(self.x @ b), dtype=np.float64)

    def loglik(self, x: FloatArray) -> tuple[float, FloatArray]:
        """Exact log-likelihood and its gradient in ``x`` (rows of baseline, weights, coefficients)."""
        total, grad = 0.0, np.empty_like(x)
        for i in range(self.d):
            mu, a, b = self.split(x, i)
            f = self.factors(b)
            lam = mu[self.bins[i]] + self.g[i] @ a
            if np.any(lam <= 0.0):
                return -np.inf, np.zeros_like(x)
            inv = 1.0 / lam
            cm, ca = self.ts[i] @ mu, self.igs[i] @ a
            total += float(np.sum(np.log(lam)) + self.n_cell[i] @ (self.x @ b) - f @ (cm + ca))
            gr = grad[i * self.p_row:(i + 1) * self.p_row]
            gr[:self.nb] = np.bincount(self.bins[i], weights=inv, minlength=self.nb) - f @ self.ts[i]
            gr[self.nb:self.nb + self.d * self.k] = self.g[i].T @ inv - f @ self.igs[i]
            gr[self.nb + self.d * self.k:] = self.x.T @ (self.n_cell[i] - f * (cm + ca))
        return total, grad


def fit_curve_stable(fit: AgeModulatedFit, events: HawkesEvents, *, max_bound: float = MAX_BOUND,
                     max_iter: int = 1000, n_young: int | None = None) -> AgeModulatedFit:
    """The curve model of ``fit``'s form (same decays, bins, age edges and degree) maximising the
    likelihood on ``events`` subject to ``rho(diag(f_young) x branching) <= max_bound``, ``f_young``
    each row's largest factor over its ``n_young`` youngest classes (None: all, the sufficient
    bound). ``fit`` (an unconstrained :func:`simulator.hawkes.multiscale_age_curve.fit_age_curve`
    result) is also the start, its weights shrunk onto the bound."""
    if not 0.0 < max_bound < 1.0:
        raise ValueError("max_bound must lie in (0, 1)")
    if fit.degree < 1:
        raise ValueError("fit_curve_stable constrains a curve fit (degree >= 1); class fits take fit_age_stable")
    base, ae = fit.base, np.asarray(fit.age_edges, dtype=np.float64)
    design = age_design(ae, fit.degree)
    rows = _CurveRows(base, events, ae, design)
    d, nb, dk, na, p = rows.d, rows.nb, rows.d * rows.k, rows.na, fit.degree
    ny = na if n_young is None else n_young
    if not 1 <= ny <= na:
        raise ValueError(f"n_young must lie in [1, {na}]")
    # the fit's factors are exp(X b) / (its value in the reference class): recover b by least squares
    # (exact, the factors lie on the curve) and move the reference scale into baseline and weights
    logf = np.log(fit.factors)
    xc = np.column_stack([np.ones(na), design])
    coef = np.linalg.lstsq(xc, logf.T, rcond=None)[0]  # (1 + p, d)
    b0, shift = coef[1:].T, np.exp(coef[0])
    mu0 = base.baseline * shift[:, None]
    a0 = base.alpha.reshape(d, dk) * shift[:, None]

    def young_max(b: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
        f = np.exp(b @ design[:ny].T)  # (d, ny)
        c = np.argmax(f, axis=1)
        return f[np.arange(d), c], c

    def m_of(a: FloatArray, b: FloatArray) -> FloatArray:
        return young_max(b)[0][:, None] * a.reshape(d, d, rows.k).sum(axis=2)

    rho0 = float(np.max(np.abs(np.linalg.eigvals(m_of(a0, b0)))))
    if rho0 > max_bound:
        a0 = a0 * (max_bound / rho0)
    x = np.concatenate([np.concatenate([mu0[i], a0[i], b0[i]]) for i in range(d)])
    bounds = ([(1e-10, None)] * nb + [(0.0, 100.0)] * dk + [(-50.0, 50.0)] * p) * d
    x, sc, zb = scaled_start(x, bounds, d, rows.p_row, nb, dk)

    def unpack(xz: FloatArray) -> tuple[FloatArray, FloatArray]:
        r = xz.reshape(d, rows.p_row)
        return r[:, nb:nb + dk], r[:, nb + dk:]

    ok = True
    with single_threaded_blas():
        for pen in PENALTIES:
            def obj(z: FloatArray, pen: float = pen) -> tuple[float, FloatArray]:
                xz = z * sc
                ll, g = rows.loglik(xz)
                if not np.isfinite(ll):
                    return 1e300, np.zeros_like(z)
                f, grad = -ll / rows.n, -g / rows.n
                a, b = unpack(xz)
                fy, cy = young_max(b)
                br = a.reshape(d, d, rows.k).sum(axis=2)
                rho, dm = _perron_grad(fy[:, None] * br)
                if rho > max_bound:
                    f += pen * (rho - max_bound) ** 2
                    w = 2.0 * pen * (rho - max_bound)
                    gr = grad.reshape(d, rows.p_row)
                    gr[:, nb:nb + dk] += w * np.repeat(fy[:, None] * dm, rows.k, axis=1)
                    dfy = np.sum(dm * br, axis=1)
                    gr[:, nb + dk:] += w * (fy * dfy)[:, None] * design[cy]
                return f, grad * sc

            res = minimize(obj, x / sc, jac=True, method="L-BFGS-B", bounds=zb,
                           options={"maxiter": max_iter, "ftol": 1e-11, "gtol": 1e-9})
            x = np.asarray(res.x) * sc
            ok &= bool(res.success)
            a, b = unpack(x)
            if float(np.max(np.abs(np.linalg.eigvals(m_of(a, b))))) <= max_bound * (1.0 + 1e-4):
                break
    r = x.reshape(d, rows.p_row).copy()
    mu, alpha, b = r[:, :nb], r[:, nb:nb + dk], r[:, nb + dk:]
    rho = float(np.max(np.abs(np.linalg.eigvals(m_of(alpha, b)))))
    if rho > max_bound:  # the penalty leaves a sliver outside: the radius is linear in the weights
        alpha = alpha * (max_bound / rho)
    # the likelihood of the model as optimised; normalising (1 in each row's most visited class)
    # moves a row's scale between factors and the rest and changes neither the model nor it
    ll = rows.loglik(np.concatenate([np.concatenate([mu[i], alpha[i], b[i]]) for i in range(d)]))[0]
    f = np.exp(b @ design.T)
    ref = np.array([int(np.argmax(rows.ts[i].sum(axis=1))) for i in range(d)])
    s = f[np.arange(d), ref]
    f, mu, alpha = f / s[:, None], mu * s[:, None], alpha * s[:, None]
    new = MultiScaleParams(mu.clip(min=1e-300), base.edges.copy(), alpha.reshape(d, d, rows.k), base.decays.copy())
    return AgeModulatedFit(base=new, factors=f, age_edges=ae, loglik=float(ll), n_params=fit.n_params,
                           n_events=fit.n_events, goodness=goodness_age(new, f, ae, events), converged=ok,
                           state_factors=np.ones((d, 1)), degree=fit.degree)
