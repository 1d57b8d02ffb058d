"""The concave row problem of a modulated multi-scale Hawkes fit, with the modulating factors fixed.

Why one place: the spread-state and own-age fits (``multiscale_state``, ``multiscale_age``) alternate
between closed-form factors and this problem; with the factors fixed, log h is a constant inside the
log-likelihood, so what remains is the unmodulated row's problem with the baseline lengths and kernel
integrals reweighted by h. Both fits must solve it the same way for their likelihoods to compare.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def solve_row(th0: FloatArray, lens: FloatArray, comp: FloatArray, gi: FloatArray, bins: IntArray,
              nb: int) -> tuple[FloatArray, float, bool]:
    """Baseline per bin (``nb``) and kernel weights maximising the row's log-likelihood, where ``lens``
    are the h-weighted bin lengths, ``comp`` the h-weighted kernel integrals, ``gi`` the kernel sums at
    the row's events and ``bins`` their baseline bins. Returns (theta, objective per event, success)."""
    n = max(gi.shape[0], 1)

    def obj(theta: FloatArray) -> tuple[float, FloatArray]:
        lam = theta[:nb][bins] + gi @ theta[nb:]
        if np.any(lam <= 0.0):
            return 1e300, np.zeros_like(theta)
        inv = 1.0 / lam
        f = -(float(np.sum(np.log(lam))) - float(lens @ theta[:nb]) - float(comp @ theta[nb:])) / n
        grad = np.empty_like(theta)
        grad[:nb] = -(np.bincount(bins, weights=inv, minlength=nb) - lens) / n
        grad[nb:] = -(gi.T @ inv - comp) / n
        return f, grad

    bounds = [(1e-10, None)] * nb + [(0.0, 100.0)] * (th0.shape[0] - nb)
    res = minimize(obj, np.maximum(th0, np.r_[np.full(nb, 1e-10), np.zeros(th0.shape[0] - nb)]), jac=True,
                   method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-9})
    return np.asarray(res.x), float(res.fun), bool(res.success)
