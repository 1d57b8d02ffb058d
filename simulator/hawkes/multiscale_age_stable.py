"""Own-age fit under a stability constraint: the most likely own-age model whose paths cannot explode.

Why: the unconstrained fit of :mod:`simulator.hawkes.multiscale_age` explodes when simulated in
about half of the 30-minute windows of the AMZN day and on the whole day, so the model the
information criterion prefers cannot drive a market path. The explosions are sub-millisecond
bursts: every dimension fires every few microseconds, so each stays in its youngest age classes,
whose factors (2-15 on the AMZN windows) multiply the fast cancel/repost and order-to-order
kernels; under those factors the excitation matrix is supercritical, and once such a burst starts
it feeds itself without end. The factors are not the problem alone (they mostly describe the
~0.5 s re-quoting cycle well) and neither is the branching (its spectral radius stays below 1): it
is their product in the young classes.

What: maximise the same likelihood subject to ``rho(diag(f_young) x branching) <= max_bound``
(< 1), where ``f_young[i]`` is the largest factor of dimension ``i`` over its ``n_young`` youngest
age classes: in a burst where every dimension fires faster than the ``n_young``-th edge, that is
the factor in force, and the burst is then subcritical and dies out. With every class
(``n_young`` = all) it is the sufficient condition of
:func:`simulator.hawkes.multiscale_age_sim.check_stability`: the intensity is dominated by a
stationary Hawkes process, so the model cannot explode, whatever its factors do between events.
:func:`stabilise` climbs that ladder (youngest class only, then the two youngest, ..., then all)
and keeps the first model whose seeded paths stay finite (:func:`check_stability`, the same test
the unconstrained fit failed): the loosest constraint that removes the explosions costs the least
likelihood (on the AMZN windows constraining the < 1 ms class alone keeps all but 2-15 of the
log-likelihood), and the last rung is provably stable, so the ladder always ends.

How: each row is rescaled so that its constrained factors are at most 1 (``f_ic <= 1`` is a box,
and the scale moves into the baseline and weights), after which the bound is just the spectral
radius of the rescaled branching matrix ``B``. The rows are then fitted jointly (``B`` couples
them) by L-BFGS-B on the exact log-likelihood of the age-modulated model (its compensator
integrated over the same grid of event times and age crossings as the unconstrained fit) plus a
quadratic penalty on ``rho(B) - max_bound`` with the Perron-root gradient, raised until the
violation is negligible; a last uniform shrink of the weights makes the bound hold exactly. The
start is the unconstrained fit rescaled the same way with its weights shrunk onto the bound, so it
is feasible. The constraint adds no parameters and removes none from the count (the information
criteria are conservative).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from simulator.hawkes._blas import single_threaded_blas
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.fit import _perron_grad
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AgeModulatedFit, _row_grid, goodness_age
from simulator.hawkes.multiscale_age_sim import AgeFactors, Stability, check_stability

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_BOUND = 0.95
"""Largest ``rho(diag(max factor) x branching)`` the constrained fit allows: a margin below 1 so
the dominating Hawkes process is not near-critical (bursts stay short, counts near their mean)."""

PENALTIES = (1e1, 1e3, 1e5, 1e7)
"""Penalty weights (per event of objective) tried in turn until the bound is met within 1e-4."""


def age_bound(base: MultiScaleParams, factors: FloatArray) -> float:
    """``rho(diag(max factor) x branching)``: below 1 the own-age model cannot explode."""
    return float(np.max(np.abs(np.linalg.eigvals(factors.max(axis=1)[:, None] * base.branching()))))



def scaled_start(x: FloatArray, bounds: Sequence[tuple[float, float | None]], d: int, p_row: int, nb: int,
                 dk: int) -> tuple[FloatArray, FloatArray, list[tuple[float, float | None]]]:
    """The start clipped into its bounds, the scale L-BFGS-B works in (it optimises x / sc), and the
    bounds in that scale. Why: baselines, weights and the age terms (class factors or curve
    coefficients, both of order one) differ by orders of magnitude; scaling baselines and weights by
    their start size (weights by at least a hundredth of their row's largest) makes the problem far
    better conditioned (several times fewer iterations). Each of the ``d`` rows holds ``nb`` baselines,
    ``dk`` weights and the age terms, ``p_row`` in all."""
    x = np.clip(x, [b[0] for b in bounds], [np.inf if b[1] is None else b[1] for b in bounds])
    sc = np.maximum(np.abs(x), 1e-12)
    for i in range(d):
        sl = slice(i * p_row + nb, i * p_row + nb + dk)
        sc[sl] = np.maximum(np.abs(x[sl]), 1e-2 * max(float(np.max(np.abs(x[sl]))), 1e-6))
        sc[i * p_row + nb + dk:(i + 1) * p_row] = 1.0
    zb = [(lo / c, None if hi is None else hi / c) for (lo, hi), c in zip(bounds, sc, strict=True)]
    return x, sc, zb

class _Rows:
    """Per row: the grid sums the likelihood needs (cell = age class), in the row's own units."""

    def __init__(self, base: MultiScaleParams, events: HawkesEvents, age_edges: FloatArray) -> None:
        self.d, self.nb, self.k = base.dim, base.n_bins, base.n_scales
        self.na = age_edges.size + 1
        self.g, self.cells, self.bins, self.ts, self.igs, self.n_cell = [], [], [], [], [], []
        for i in range(self.d):
            r = _row_grid(events, i, base.decays, age_edges, base.edges)
            ts = np.zeros((self.na, self.nb))
            np.add.at(ts, (r.cell, r.bins), r.length)
            igs = np.zeros((self.na, r.dig.shape[1]))
            np.add.at(igs, r.cell, r.dig)
            self.g.append(r.g)
            self.cells.append(r.cell_at_events)
            self.bins.append(r.bins_at_events)
            self.ts.append(ts)
            self.igs.append(igs)
            self.n_cell.append(np.bincount(r.cell_at_events, minlength=self.na).astype(np.float64))
        self.n = float(len(events))
        self.p_row = self.nb + self.d * self.k + self.na  # baseline, weights, factors

    def split(self, x: FloatArray, i: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        row = x[i * self.p_row:(i + 1) * self.p_row]
        return row[:self.nb], row[self.nb:self.nb + self.d * self.k], row[self.nb + self.d * self.k:]

    def loglik(self, x: FloatArray) -> tuple[float, FloatArray]:
        """Exact log-likelihood and its gradient in ``x`` (rows of baseline, weights, factors)."""
        total, grad = 0.0, np.empty_like(x)
        for i in range(self.d):
            mu, a, f = self.split(x, i)
            lam = mu[self.bins[i]] + self.g[i] @ a
            if np.any(lam <= 0.0) or np.any(f <= 0.0):
                return -np.inf, np.zeros_like(x)
            inv = 1.0 / lam
            cm, ca = self.ts[i] @ mu, self.igs[i] @ a  # unscaled compensator per class
            total += float(np.sum(np.log(lam)) + self.n_cell[i] @ np.log(f) - f @ (cm + ca))
            gr = grad[i * self.p_row:(i + 1) * self.p_row]
            gr[:self.nb] = np.bincount(self.bins[i], weights=inv, minlength=self.nb) - f @ self.ts[i]
            gr[self.nb:self.nb + self.d * self.k] = self.g[i].T @ inv - f @ self.igs[i]
            gr[self.nb + self.d * self.k:] = self.n_cell[i] / f - (cm + ca)
        return total, grad

    def branching(self, x: FloatArray) -> FloatArray:
        return np.array([self.split(x, i)[1].reshape(self.d, self.k).sum(axis=1) for i in range(self.d)])


def fit_age_stable(fit: AgeModulatedFit, events: HawkesEvents, *, max_bound: float = MAX_BOUND,
                   max_iter: int = 1000, n_young: int | None = None) -> AgeModulatedFit:
    """The own-age model of ``fit``'s form (same decays, bins and age edges) maximising the
    likelihood on ``events`` subject to ``rho(diag(f_young) x branching) <= max_bound``, ``f_young``
    each row's largest factor over its ``n_young`` youngest classes (None: all of them, the
    sufficient bound).

    Meant for an unconstrained :func:`simulator.hawkes.multiscale_age.fit_age_modulated` result
    that fails :func:`simulator.hawkes.multiscale_age_sim.check_stability`; ``fit`` is also the
    start. The result's factors are normalised like the unconstrained fit's (1 in each row's most
    visited class); ``converged`` says whether every optimiser run succeeded.
    """
    if not 0.0 < max_bound < 1.0:
        raise ValueError("max_bound must lie in (0, 1)")
    if fit.state_factors.shape[1] != 1:
        raise ValueError("only the own-age model (no spread states) can be simulated, so only it is constrained")
    base, ae = fit.base, np.asarray(fit.age_edges, dtype=np.float64)
    rows = _Rows(base, events, ae)
    d, nb, dk, na = rows.d, rows.nb, rows.d * rows.k, rows.na
    # start: each row's factors divided by their maximum (the scale into baseline and weights), then
    # the weights shrunk uniformly onto the bound, which is then rho of the rescaled branching
    ny = na if n_young is None else n_young
    if not 1 <= ny <= na:
        raise ValueError(f"n_young must lie in [1, {na}]")
    top = fit.factors[:, :ny].max(axis=1)
    mu0 = base.baseline * top[:, None]
    a0 = base.alpha.reshape(d, dk) * top[:, None]
    rho0 = float(np.max(np.abs(np.linalg.eigvals(a0.reshape(d, d, rows.k).sum(axis=2)))))
    if rho0 > max_bound:
        a0 = a0 * (max_bound / rho0)
    f0 = fit.factors / top[:, None]
    x = np.concatenate([np.concatenate([mu0[i], a0[i], f0[i]]) for i in range(d)])
    bounds = ([(1e-10, None)] * nb + [(0.0, 100.0)] * dk + [(1e-8, 1.0)] * ny + [(1e-8, None)] * (na - ny)) * d
    x, sc, zb = scaled_start(x, bounds, d, rows.p_row, nb, dk)
    ok = True
    with single_threaded_blas():
        for pen in PENALTIES:
            def obj(z: FloatArray, pen: float = pen) -> tuple[float, FloatArray]:
                xz = z * sc
                ll, g = rows.loglik(xz)
                if not np.isfinite(ll):
                    return 1e300, np.zeros_like(z)
                f, grad = -ll / rows.n, -g / rows.n
                rho, drho = _perron_grad(rows.branching(xz))
                if rho > max_bound:
                    f += pen * (rho - max_bound) ** 2
                    for i in range(d):
                        sl = slice(i * rows.p_row + nb, i * rows.p_row + nb + dk)
                        grad[sl] += 2.0 * pen * (rho - max_bound) * np.repeat(drho[i], rows.k)
                return f, grad * sc

            res = minimize(obj, x / sc, jac=True, method="L-BFGS-B", bounds=zb,
                           options={"maxiter": max_iter, "ftol": 1e-11, "gtol": 1e-9})
            x = np.asarray(res.x) * sc
            ok &= bool(res.success)
            if _perron_grad(rows.branching(x))[0] <= max_bound * (1.0 + 1e-4):
                break
    rho = float(np.max(np.abs(np.linalg.eigvals(rows.branching(x)))))
    mus, alphas, facs = zip(*(rows.split(x, i) for i in range(d)), strict=True)
    mu, alpha, f = np.array(mus), np.array(alphas), np.array(facs)
    if rho > max_bound:  # the penalty leaves a sliver outside: shrink the weights onto the bound
        alpha = alpha * (max_bound / rho)
    # back to the unconstrained fit's normalisation: 1 in each row's most visited class (the
    # model, and the bound, are unchanged by moving a row's scale between factors and the rest)
    ref = np.array([int(np.argmax(rows.ts[i].sum(axis=1))) for i in range(d)])
    s = f[np.arange(d), ref]
    f, mu, alpha = f / s[:, None], mu * s[:, None], alpha * s[:, None]
    new = MultiScaleParams(mu.clip(min=1e-300), base.edges.copy(), alpha.reshape(d, d, rows.k), base.decays.copy())
    xs = np.concatenate([np.concatenate([mu[i], alpha[i], f[i]]) for i in range(d)])
    ll = rows.loglik(xs)[0]
    return AgeModulatedFit(base=new, factors=f, age_edges=ae, loglik=float(ll), n_params=fit.n_params,
                           n_events=fit.n_events, goodness=goodness_age(new, f, ae, events), converged=ok,
                           state_factors=np.ones((d, 1)))


@dataclass(frozen=True)
class RunnableAge:
    """The own-age model the simulator can run: ``fit`` (the unconstrained one when its paths stay
    finite, else the constrained one), its :class:`Stability`, and ``constraint``, '' for none,
    else which factors were bounded (for the report)."""

    fit: AgeModulatedFit
    stability: Stability
    constraint: str


def constraint_label(n_young: int, age_edges: FloatArray) -> str:
    """How the report names the rung ``n_young`` of :func:`stabilise`'s ladder."""
    if n_young > age_edges.size:
        return "all ages"
    edge = float(age_edges[n_young - 1])
    return f"ages < {edge * 1e3:g} ms" if edge < 1.0 else f"ages < {edge:g} s"


def stabilise(fit: AgeModulatedFit, events: HawkesEvents, horizon: float, seed: int, *,
              stability: Stability | None = None, max_bound: float = MAX_BOUND,
              refit: Callable[..., AgeModulatedFit] | None = None) -> RunnableAge:
    """``fit`` itself when :func:`check_stability` (``horizon``, ``seed``) passes it, else the
    constrained fit of the first rung of the ladder (``n_young`` = 1, 2, ..., all classes) that
    passes. ``stability`` is ``fit``'s own, when the caller already has it. ``refit`` is the
    constrained fit of ``fit``'s family (called as :func:`fit_age_stable` is): :func:`fit_age_stable`
    for free class factors, the curve family's own for a curve fit (it keeps the curve, and the
    parameter count with it)."""
    if refit is None and fit.degree:
        raise ValueError("a curve fit is constrained on its curve: pass refit=fit_curve_stable")
    refit = refit if refit is not None else fit_age_stable
    ae = np.asarray(fit.age_edges, dtype=np.float64)
    stab = stability if stability is not None else check_stability(fit.base, AgeFactors(fit.factors, ae), horizon,
                                                                    seed)
    if stab.stable:
        return RunnableAge(fit, stab, "")
    for ny in range(1, ae.size + 2):
        c = refit(fit, events, max_bound=max_bound, n_young=ny)
        s = check_stability(c.base, AgeFactors(c.factors, ae), horizon, seed)
        if s.stable:
            return RunnableAge(c, s, constraint_label(ny, ae))
    raise RuntimeError("the fully constrained own-age fit failed its stability check")  # bound <= max_bound < 1
