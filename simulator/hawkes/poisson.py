"""Poisson draws that consume and return exactly what ``Generator.poisson`` does, without numba's runtime.

Why a copy of the library's algorithm: numba's ``rng.poisson`` keeps the constants of its large-mean
branch (PTRS, ``lam >= 10``) in a list, and a list needs numba's runtime (NRT). The Monte Carlo's
event loop is compiled without it (``simulator.book.core.hot``: refcounting every array of the book
on every call cost more than the book operation), so any draw it makes must be NRT-free. The code
below is numpy's ``random_poisson`` (``distributions.c``) as numba transcribes it, with the list
replaced by a tuple; every arithmetic step is in the same order, so the results are bit-identical
(tested against ``rng.poisson``). Both use ``rng.random()`` (``next_double``) for every uniform.

``poisson_small`` also takes ``exp(-lam)`` precomputed: the cluster sampler's branching means repeat
per dimension, so the exponential is paid once per dimension instead of once per event.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

_LOGGAM_A = (8.333333333333333e-02, -2.777777777777778e-03,
             7.936507936507937e-04, -5.952380952380952e-04,
             8.417508417508418e-04, -1.917526917526918e-03,
             6.410256410256410e-03, -2.955065359477124e-02,
             1.796443723688307e-01, -1.39243221690590e+00)
_NO_NRT: dict[str, Any] = {"_nrt": False}  # private numba option (see simulator.book.core), hence untyped


@njit(cache=True, nogil=True, **_NO_NRT)
def _loggam(x: float) -> float:
    a = _LOGGAM_A
    if x == 1.0 or x == 2.0:
        return 0.0
    elif x < 7.0:
        n = int(7 - x)
    else:
        n = 0
    x0 = x + n
    x2 = (1.0 / x0) * (1.0 / x0)
    lg2pi = 1.8378770664093453e+00
    gl0 = a[9]
    for k in range(0, 9):
        gl0 *= x2
        gl0 += a[8 - k]
    gl = gl0 / x0 + 0.5 * lg2pi + (x0 - 0.5) * np.log(x0) - x0
    if x < 7.0:
        for _ in range(1, n + 1):
            gl = gl - np.log(x0 - 1.0)
            x0 = x0 - 1.0
    return gl


@njit(cache=True, nogil=True, **_NO_NRT)
def _poisson_ptrs(rng: np.random.Generator, lam: float) -> int:
    slam = np.sqrt(lam)
    loglam = np.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - np.fabs(u)
        k = int((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b)) <= (-lam + k * loglam - _loggam(k + 1)):
            return k


@njit(cache=True, nogil=True, inline="always", **_NO_NRT)
def poisson_small(rng: np.random.Generator, lam: float, enlam: float) -> int:
    """``rng.poisson(lam)`` for ``lam >= 0`` with ``enlam = exp(-lam)``: below 10, multiply uniforms
    until the product falls to ``exp(-lam)`` or below (the library's multiplication method)."""
    if lam >= 10.0:
        return _poisson_ptrs(rng, lam)
    if lam == 0.0:
        return 0
    x = 0
    prod = 1.0
    while True:
        prod *= rng.random()
        if prod > enlam:
            x += 1
        else:
            return x


@njit(cache=True, nogil=True, inline="always", **_NO_NRT)
def poisson(rng: np.random.Generator, lam: float) -> int:
    """``rng.poisson(lam)`` for a finite ``lam >= 0``, NRT-free."""
    return poisson_small(rng, lam, np.exp(-lam) if lam < 10.0 else 0.0)
