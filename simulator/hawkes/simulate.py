"""Exact simulation of multivariate exponential-kernel Hawkes processes.

Two exact samplers of the same law are offered, because the two callers want different things:

* ``method="cluster"`` (default for :func:`simulate`): the Poisson cluster (immigrant-birth)
  representation. Immigrants of dimension ``i`` are a Poisson(``mu[i]``) process; every event of
  dimension ``j`` begets Poisson(``alpha[i, j]``) children of dimension ``i`` at Exp(``beta[i, j]``)
  delays. It costs O(1) random draws per event plus one sort, which makes batch generation
  several times faster than thinning. It needs the whole horizon up front.
* ``method="thinning"``: Ogata thinning driven by :func:`hawkes_next_event`, an *online* kernel
  that only needs the current excitation state. This is the one to reuse inside a fused event
  loop (the order-book market model), where each event is consumed before the next is drawn.

Reusable njit kernel (import from this module inside another ``@njit`` function)::

    hawkes_next_event(t: float, horizon: float, state: float64[:, ::1], mu: float64[::1],
                      beta: float64[:, ::1], rng: np.random.Generator,
                      lam: float64[::1]) -> tuple[float, int]

      ``state[i, j]`` is the current contribution of past dimension-``j`` events to the intensity
      of dimension ``i`` at time ``t``, i.e. ``sum_k alpha[i,j]*beta[i,j]*exp(-beta[i,j]*(t-t_k^j))``
      (start from zeros, or from a warm state). Draws the next event after ``t``; on return the
      state has been decayed to the returned time, ``lam`` (length D, scratch supplied by the caller
      so the kernel never allocates) holds the per-dimension intensities just before that event,
      and the excitation of the event has NOT yet been added. Returns ``(t_event, dim)``; if no
      event occurs before ``horizon`` it returns ``(horizon, -1)`` with the state decayed to
      ``horizon``, so the caller may extend the horizon and call again.

    hawkes_excite(state: float64[:, ::1], jump: float64[:, ::1], dim: int) -> None

      Adds the jump of one dimension-``dim`` event: ``state[:, dim] += jump[:, dim]`` with
      ``jump = alpha * beta`` (precompute it once; :func:`jump_matrix`).

    A fused loop therefore reads::

        t, d = hawkes_next_event(t, horizon, state, mu, beta, rng, lam)
        if d < 0: break
        hawkes_excite(state, jump, d)
        ... apply event d at time t to the book ...

Faster variant when decays repeat (calibrated models usually have a handful of distinct values;
this is what ``simulate(method="thinning")`` uses)::

    ubeta, group = decay_groups(beta)          # Python, once: (K,) distinct decays, (D, D) int64
    hawkes_next_event_grouped(t: float, horizon: float, gstate: float64[:, ::1], mu: float64[::1],
                              ubeta: float64[::1], rng: np.random.Generator, lam: float64[::1],
                              work: float64[::1]) -> tuple[float, int]
    hawkes_excite_grouped(gstate: float64[:, ::1], jump: float64[:, ::1], group: int64[:, ::1],
                          dim: int) -> None

      ``gstate`` is (D, K): ``gstate[i, k]`` sums ``state[i, j]`` over the j with
      ``group[i, j] == k``; ``work`` is (K,) scratch. Same contract and same law as the ungrouped
      pair, K exponentials per proposal instead of D*D (the paths differ in floating-point
      rounding only, so not bit for bit).

Determinism: every draw comes from the numpy ``Generator`` passed in (numba supports Generator
arguments natively), never from a global RNG or the clock; seed it from a ``SeedSequence``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit
from numpy.typing import NDArray

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.params import HawkesParams
from simulator.hawkes.poisson import poisson_small
from simulator.hawkes.timesort import stable_time_order

Method = Literal["cluster", "thinning"]


def jump_matrix(params: HawkesParams) -> NDArray[np.float64]:
    """``alpha * beta``: the intensity jump per event, since alpha is the kernel's L1 norm."""
    return np.ascontiguousarray(params.alpha * params.beta)


@njit(cache=True, inline="always")
def hawkes_excite(state: NDArray[np.float64], jump: NDArray[np.float64], dim: int) -> None:
    for i in range(state.shape[0]):
        state[i, dim] += jump[i, dim]


@njit(cache=True, inline="always")
def _decay(state: NDArray[np.float64], beta: NDArray[np.float64], dt: float) -> None:
    d = state.shape[0]
    for i in range(d):
        for j in range(d):
            s = state[i, j]
            if s != 0.0:
                state[i, j] = s * np.exp(-beta[i, j] * dt)


@njit(cache=True)
def hawkes_next_event(
    t: float,
    horizon: float,
    state: NDArray[np.float64],
    mu: NDArray[np.float64],
    beta: NDArray[np.float64],
    rng: np.random.Generator,
    lam: NDArray[np.float64],
) -> tuple[float, int]:
    # Between events every kernel decays, so the intensity at the current time bounds the
    # intensity until the next event: it is the thinning envelope, refreshed after each rejection.
    d = mu.shape[0]
    lam_bar = 0.0
    for i in range(d):
        lam_bar += mu[i]
        for j in range(d):
            lam_bar += state[i, j]
    t_state = t
    while True:
        t = t + rng.standard_exponential() / lam_bar
        if t >= horizon:
            _decay(state, beta, horizon - t_state)
            return horizon, -1
        dt = t - t_state
        t_state = t
        total = 0.0
        # Calibrated and hand-set models repeat a few decay values; reusing the last factor when
        # the decay repeats skips most exponentials and gives bit-identical results.
        last_b = -1.0
        last_e = 0.0
        for i in range(d):
            li = mu[i]
            for j in range(d):
                s = state[i, j]
                if s != 0.0:
                    b = beta[i, j]
                    if b != last_b:
                        last_b = b
                        last_e = np.exp(-b * dt)
                    s = s * last_e
                    state[i, j] = s
                    li += s
            lam[i] = li
            total += li
        # Conditioned on acceptance (w < total), w is uniform on [0, total): the same draw picks
        # the dimension, saving one random number per event without changing the law.
        w = rng.random() * lam_bar
        if w < total:
            c = 0.0
            for i in range(d):
                c += lam[i]
                if w < c:
                    return t, i
            return t, d - 1
        lam_bar = total


def decay_groups(beta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``(ubeta (K,), group (D, D))``: the distinct decays and each kernel's index into them."""
    ub, inv = np.unique(np.asarray(beta, dtype=np.float64), return_inverse=True)
    return np.ascontiguousarray(ub), np.ascontiguousarray(inv.reshape(np.shape(beta)), dtype=np.int64)


@njit(cache=True, inline="always")
def hawkes_excite_grouped(gstate: NDArray[np.float64], jump: NDArray[np.float64], group: NDArray[np.int64],
                          dim: int) -> None:
    for i in range(gstate.shape[0]):
        gstate[i, group[i, dim]] += jump[i, dim]


@njit(cache=True)
def hawkes_next_event_grouped(
    t: float,
    horizon: float,
    gstate: NDArray[np.float64],
    mu: NDArray[np.float64],
    ubeta: NDArray[np.float64],
    rng: np.random.Generator,
    lam: NDArray[np.float64],
    work: NDArray[np.float64],
) -> tuple[float, int]:
    # Kernels sharing a decay decay together, so their contributions can be summed into one
    # state per (target, distinct decay): K exponentials and D*K products per proposal instead
    # of D*D, which is what makes thinning affordable at D = 10.
    d = mu.shape[0]
    nk = ubeta.shape[0]
    lam_bar = 0.0
    for i in range(d):
        lam_bar += mu[i]
        for k in range(nk):
            lam_bar += gstate[i, k]
    t_state = t
    while True:
        t = t + rng.standard_exponential() / lam_bar
        if t >= horizon:
            dt = horizon - t_state
            for k in range(nk):
                work[k] = np.exp(-ubeta[k] * dt)
            for i in range(d):
                for k in range(nk):
                    gstate[i, k] *= work[k]
            return horizon, -1
        dt = t - t_state
        t_state = t
        for k in range(nk):
            work[k] = np.exp(-ubeta[k] * dt)
        total = 0.0
        for i in range(d):
            li = mu[i]
            for k in range(nk):
                s = gstate[i, k] * work[k]
                gstate[i, k] = s
                li += s
            lam[i] = li
            total += li
        w = rng.random() * lam_bar
        if w < total:
            c = 0.0
            for i in range(d):
                c += lam[i]
                if w < c:
                    return t, i
            return t, d - 1
        lam_bar = total


@njit(cache=True)
def _grow(a: NDArray, n: int) -> NDArray:
    b = np.empty(max(2 * a.shape[0], n, 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _simulate_thinning(
    mu: NDArray[np.float64],
    alpha: NDArray[np.float64],
    beta: NDArray[np.float64],
    ubeta: NDArray[np.float64],
    group: NDArray[np.int64],
    horizon: float,
    rng: np.random.Generator,
    max_events: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    d = mu.shape[0]
    jump = alpha * beta
    gstate = np.zeros((d, ubeta.shape[0]))
    lam = np.empty(d)
    work = np.empty(ubeta.shape[0])
    cap = 1024
    times = np.empty(cap)
    dims = np.empty(cap, dtype=np.int64)
    n = 0
    t = 0.0
    while n < max_events:
        t, k = hawkes_next_event_grouped(t, horizon, gstate, mu, ubeta, rng, lam, work)
        if k < 0:
            break
        hawkes_excite_grouped(gstate, jump, group, k)
        if n == times.shape[0]:
            times = _grow(times, n + 1)
            dims = _grow(dims, n + 1)
        times[n] = t
        dims[n] = k
        n += 1
    return times[:n].copy(), dims[:n].copy()


@njit(cache=True, nogil=True)  # Monte Carlo runs paths on several threads
def _simulate_cluster(
    mu: NDArray[np.float64],
    alpha: NDArray[np.float64],
    beta: NDArray[np.float64],
    horizon: float,
    rng: np.random.Generator,
    max_events: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64], bool]:
    d = mu.shape[0]
    colsum = np.zeros(d)
    enlam = np.zeros(d)  # exp(-colsum): the Poisson draw's threshold, once per dimension, not per event
    cum = np.zeros((d, d))  # cum[j, i]: cumulative branching of parent j over child dims 0..i
    for j in range(d):
        c = 0.0
        for i in range(d):
            c += alpha[i, j]
            cum[j, i] = c
        colsum[j] = c
        enlam[j] = np.exp(-c)
    n_imm = np.empty(d, dtype=np.int64)
    total = 0
    for i in range(d):
        n_imm[i] = rng.poisson(mu[i] * horizon)
        total += n_imm[i]
    cap = max(16, 2 * total)
    times = np.empty(cap)
    dims = np.empty(cap, dtype=np.int64)
    n = 0
    for i in range(d):
        for _ in range(n_imm[i]):
            times[n] = rng.random() * horizon
            dims[n] = i
            n += 1
    # Breadth-first over the growing array: every event, immigrant or child, is processed once.
    head = 0
    truncated = False
    while head < n:
        s = times[head]
        j = dims[head]
        head += 1
        if colsum[j] <= 0.0:
            continue
        n_child = poisson_small(rng, colsum[j], enlam[j])  # rng.poisson's draws, exp(-mean) precomputed
        for _ in range(n_child):
            u = rng.random() * colsum[j]
            i = 0
            while i < d - 1 and u >= cum[j, i]:
                i += 1
            tc = s + rng.standard_exponential() / beta[i, j]
            if tc < horizon:
                if n >= max_events:
                    truncated = True
                    break
                if n == times.shape[0]:
                    times = _grow(times, n + 1)
                    dims = _grow(dims, n + 1)
                times[n] = tc
                dims[n] = i
                n += 1
        if truncated:
            break
    order = stable_time_order(times[:n], horizon)
    out_t = np.empty(n)
    out_d = np.empty(n, dtype=np.int64)
    for k in range(n):
        out_t[k] = times[order[k]]
        out_d[k] = dims[order[k]]
    return out_t, out_d, truncated


def simulate_cluster_arrays(params: HawkesParams, horizon: float, rng: np.random.Generator, *,
                            max_events: int = 200_000_000) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The cluster sampler's (times, dims), sorted and in range by construction, without the
    :class:`HawkesEvents` re-validation (the Monte Carlo's per-path fast path)."""
    times, dims, truncated = _simulate_cluster(params.mu, params.alpha, params.beta, float(horizon), rng,
                                               int(max_events))
    if truncated:
        raise RuntimeError(f"more than max_events={max_events} events: is the process explosive?")
    return times, dims


def simulate(
    params: HawkesParams,
    horizon: float,
    rng: np.random.Generator,
    *,
    method: Method = "cluster",
    max_events: int = 200_000_000,
) -> HawkesEvents:
    """Simulate one path on ``[0, horizon]`` from an empty history.

    ``max_events`` guards against an explosive (spectral radius >= 1) model eating the memory;
    hitting it raises rather than returning a silently truncated path.
    """
    if horizon <= 0:
        raise ValueError("horizon must be positive")
    mu, alpha, beta = params.mu, params.alpha, params.beta
    if method == "cluster":
        times, dims = simulate_cluster_arrays(params, horizon, rng, max_events=max_events)
    elif method == "thinning":
        ubeta, group = decay_groups(beta)
        times, dims = _simulate_thinning(mu, alpha, beta, ubeta, group, float(horizon), rng, int(max_events))
        if times.shape[0] >= max_events:
            raise RuntimeError(f"more than max_events={max_events} events: is the process explosive?")
    else:
        raise ValueError(f"unknown method {method!r}")
    return HawkesEvents(times, dims, float(horizon), params.dim)


def simulate_n(
    params: HawkesParams,
    n_events: int,
    rng: np.random.Generator,
    *,
    method: Method = "cluster",
) -> HawkesEvents:
    """Exactly ``n_events`` events, observed up to the last one (a stopping time, so fits stay valid).

    The horizon is sized from the stationary rate with margin and extended if it falls short.
    """
    rate = float(np.sum(params.stationary_intensity()))
    horizon = 1.2 * n_events / rate + 10.0 / float(np.min(params.beta))
    while True:
        ev = simulate(params, horizon, rng, method=method, max_events=max(4 * n_events, 1_000_000))
        if len(ev) >= n_events:
            return ev.truncate(n_events)
        horizon *= 1.5
