"""Stable ordering of event times drawn on ``[0, horizon)``: the cluster samplers' last step.

Why not ``np.argsort(kind="mergesort")``: a Monte Carlo path draws a few thousand events and the
comparison sort was about 40% of drawing them (measured on a 107 events/s fitted model, 18 s
paths). The times are spread over a known interval, so a bucket pass (one bucket per event on
average) followed by insertion sort inside each bucket is linear in expectation. Both passes are
stable, so the permutation is *exactly* the stable sort's, ties included: paths and digests do not
change. A bucket that a burst of children overfills would make insertion sort quadratic, so past
``MAX_BUCKET`` events in one bucket the function falls back to the stable mergesort (same result).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

MAX_BUCKET = 64


@njit(cache=True, nogil=True)
def stable_time_order(times: NDArray[np.float64], horizon: float) -> NDArray[np.int64]:
    """Indices that sort ``times`` (all in ``[0, horizon]``) ascending, ties in input order."""
    n = times.shape[0]
    if n < 2 or not horizon > 0.0:
        return np.argsort(times, kind="mergesort")
    nb = n
    scale = nb / horizon
    start = np.zeros(nb + 1, dtype=np.int64)
    key = np.empty(n, dtype=np.int64)
    for k in range(n):
        j = int(times[k] * scale)
        if j >= nb:
            j = nb - 1
        elif j < 0:
            j = 0
        key[k] = j
        start[j + 1] += 1
    biggest = 0
    for j in range(nb):
        if start[j + 1] > biggest:
            biggest = start[j + 1]
        start[j + 1] += start[j]
    if biggest > MAX_BUCKET:
        return np.argsort(times, kind="mergesort")
    order = np.empty(n, dtype=np.int64)
    fill = start[:nb].copy()
    for k in range(n):  # input order within a bucket: stable
        j = key[k]
        order[fill[j]] = k
        fill[j] += 1
    for j in range(nb):
        lo = start[j]
        hi = start[j + 1]
        for a in range(lo + 1, hi):
            cur = order[a]
            tc = times[cur]
            b = a - 1
            while b >= lo and times[order[b]] > tc:  # strict: equal times keep input order
                order[b + 1] = order[b]
                b -= 1
            order[b + 1] = cur
    return order
