"""Exponential-kernel features on a time grid, shared by the modulated multi-scale fits.

Why one place: the spread-state and own-age models (``multiscale_state``, ``multiscale_age``) both need
the kernel sums and their integrals at the events and at extra evaluation points, and must compute
them the same way, bit for bit, for their compensators to agree.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@njit(cache=True, nogil=True)
def grid_kernel_features(times: FloatArray, dims: IntArray, is_event: NDArray[np.bool_], d: int,
                   decays: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``G`` (N, D*K): each dimension's kernel sums at every grid point (before that point's own event);
    ``IG``: their integrals from 0 to it. Only grid points marked ``is_event`` excite, so a grid can carry
    extra evaluation points (class crossings, the horizon) between the events."""
    n = times.shape[0]
    k_sc = decays.shape[0]
    g = np.empty((n, d * k_sc))
    ig = np.empty((n, d * k_sc))
    a = np.zeros((d, k_sc))
    cnt = np.zeros(d)
    t_last = 0.0
    for m in range(n):
        dt = times[m] - t_last
        if dt > 0.0:
            for k in range(k_sc):
                e = np.exp(-decays[k] * dt)
                for j in range(d):
                    a[j, k] *= e
            t_last = times[m]
        for j in range(d):
            for k in range(k_sc):
                g[m, j * k_sc + k] = decays[k] * a[j, k]
                ig[m, j * k_sc + k] = cnt[j] - a[j, k]
        if is_event[m]:
            for k in range(k_sc):
                a[dims[m], k] += 1.0
            cnt[dims[m]] += 1.0
    return g, ig
