"""The first own-age sampler (session 8), kept as an independent reference for the law tests.

Why keep it: :mod:`simulator.hawkes.multiscale_age_sim` now draws the same law with fewer proposals
(per kernel component, see its docstring), so its digests changed; the tests compare the two
samplers' distributions over many seeds, and a second, simpler construction of the same law is
the strongest check that the faster one is right. It also draws the models whose old age classes
carry factors far above the young ones' (``multiscale_age_sim.MAX_SUP_RATIO``), where the faster
sampler's bound rejects nearly every proposal.

Ogata thinning with a piecewise-constant bound: between two boundaries (the next age crossing of
any dimension, the next baseline bin edge) the factors and the baseline are constant and the
excitation only decays, so the intensity at the last refresh bounds it; a proposal past the next
boundary is dropped and the clock moves to the boundary (the exponential is memoryless), where only
the crossing dimension's term of the bound changes.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@njit(cache=True)
def _grow(a: NDArray, n: int) -> NDArray:
    b = np.empty(max(2 * a.shape[0], n, 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, nogil=True)  # Monte Carlo paths draw their flow on several threads
def _simulate_age_piecewise(base: FloatArray, edges: FloatArray, alpha: FloatArray, decays: FloatArray,
                  factors: FloatArray, age_edges: FloatArray, t0: float, horizon: float,
                  rng: np.random.Generator, max_events: int) -> tuple[FloatArray, IntArray, bool]:
    d, nb = base.shape
    k_sc = decays.shape[0]
    na = factors.shape[1]
    period = edges[-1]
    jump = np.empty((d, d, k_sc))  # jump[j, i, k]: what one event of j adds to g[i, k]
    for i in range(d):
        for j in range(d):
            for k in range(k_sc):
                jump[j, i, k] = alpha[i, j, k] * decays[k]
    g = np.zeros((d, k_sc))  # excitation of target i at scale k, as of time t_ref
    exc = np.zeros(d)  # sum_k g[i, k] at the last refresh: bounds the excitation until the next event
    cls = np.full(d, na - 1, np.int64)
    last = np.zeros(d)
    nxt = np.full(d, np.inf)  # next age crossing of each dimension
    term = np.empty(d)  # the bound's term per dimension
    lam = np.empty(d)
    work = np.empty(k_sc)
    # baseline bin of the profile clock start + t, and the path time of its end
    p = np.floor(t0 / period)
    r = t0 - p * period
    b = 0
    while b < nb - 1 and r >= edges[b + 1]:
        b += 1
    next_bin = p * period + edges[b + 1] - t0
    total = 0.0
    for i in range(d):
        term[i] = factors[i, cls[i]] * (base[i, b] + exc[i])
        total += term[i]
    cap = 1024
    times = np.empty(cap)
    dims = np.empty(cap, np.int64)
    n = 0
    t = 0.0
    t_ref = 0.0
    truncated = False
    while True:
        stop = next_bin
        who = -1
        for i in range(d):
            if nxt[i] < stop:
                stop = nxt[i]
                who = i
        cand = t + rng.standard_exponential() / total if total > 0.0 else np.inf
        if cand >= stop or cand >= horizon:
            if stop >= horizon:
                break
            # The bound changes here: move the clock to the boundary and draw afresh.
            t = stop
            if who >= 0:
                c = cls[who] + 1
                cls[who] = c
                nxt[who] = last[who] + age_edges[c] if c < na - 1 else np.inf
                term[who] = factors[who, c] * (base[who, b] + exc[who])
            else:
                b += 1
                if b == nb:
                    b = 0
                    p += 1.0
                next_bin = p * period + edges[b + 1] - t0
                for i in range(d):
                    term[i] = factors[i, cls[i]] * (base[i, b] + exc[i])
            total = 0.0
            for i in range(d):
                total += term[i]
            continue
        t = cand
        dt = t - t_ref
        t_ref = t
        for k in range(k_sc):
            work[k] = np.exp(-decays[k] * dt)
        s = 0.0
        for i in range(d):
            e = 0.0
            for k in range(k_sc):
                v = g[i, k] * work[k]
                g[i, k] = v
                e += v
            exc[i] = e
            li = factors[i, cls[i]] * (base[i, b] + e)
            lam[i] = li
            term[i] = li
            s += li
        # Conditioned on acceptance (w < s) w is uniform on [0, s): it also picks the dimension.
        w = rng.random() * total
        total = s
        if w >= s:
            continue
        m = d - 1
        c_acc = 0.0
        for i in range(d):
            c_acc += lam[i]
            if w < c_acc:
                m = i
                break
        if n >= max_events:
            truncated = True
            break
        if n == times.shape[0]:
            times = _grow(times, n + 1)
            dims = _grow(dims, n + 1)
        times[n] = t
        dims[n] = m
        n += 1
        last[m] = t
        cls[m] = 0
        nxt[m] = t + age_edges[0]
        total = 0.0
        for i in range(d):
            e = 0.0
            for k in range(k_sc):
                v = g[i, k] + jump[m, i, k]
                g[i, k] = v
                e += v
            exc[i] = e
            term[i] = factors[i, cls[i]] * (base[i, b] + e)
            total += term[i]
    return times[:n].copy(), dims[:n].copy(), truncated


def simulate_age_piecewise(params: MultiScaleParams, factors: FloatArray, age_edges: FloatArray, horizon: float,
                           rng: np.random.Generator, *, start: float = 0.0,
                           max_events: int = 200_000_000) -> HawkesEvents:
    """One path of the own-age model by the first (piecewise-bound) sampler; same arguments as
    :func:`simulator.hawkes.multiscale_age_sim.simulate_age` with the factors and edges unpacked."""
    if horizon <= 0:
        raise ValueError("horizon must be positive")
    f = np.ascontiguousarray(factors, dtype=np.float64)
    e = np.ascontiguousarray(age_edges, dtype=np.float64)
    t, d, truncated = _simulate_age_piecewise(params.baseline, params.edges, params.alpha, params.decays, f, e,
                                              float(start), float(horizon), rng, int(max_events))
    if truncated:
        raise RuntimeError(f"more than max_events={max_events} events: is the process explosive?")
    return HawkesEvents(t, d, float(horizon), params.dim)
