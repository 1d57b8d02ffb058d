"""Exact simulation of the own-age-modulated multi-scale Hawkes model of
:mod:`simulator.hawkes.multiscale_age`, so the model the window fits prefer can drive a market path.

Intensity of dimension ``i`` (profile clock ``start + t``)::

    lambda_i(t) = factors[i, a_i(t)] * ( baseline[i, bin(start + t)] + sum_jk alpha[i, j, k] * decays[k] * A_jk(t) )

with ``a_i(t)`` the class over ``edges`` (s) of the time since dimension ``i``'s own last event
(the oldest class before its first one), as the fit defines it.

Why Ogata thinning and not the cluster sampler of :mod:`simulator.hawkes.multiscale`: the factor
multiplies the *whole* intensity, immigrants included, and depends on the path's own history,
so the process is no longer a Poisson cluster process. Thinning needs a bound that holds until the
next proposal, and here the intensity can *jump up* between events, when an age crosses a class
edge into a class with a larger factor (or the baseline enters a higher bin). So the bound is
piecewise: between two "boundaries" (the next age crossing of any dimension, the next baseline
bin edge) the factors and the baseline are constant and the excitation only decays, so the
intensity at the last refresh bounds it; a proposal that falls past the next boundary is dropped
and the clock moves to the boundary (the exponential is memoryless), where only the crossing
dimension's term of the bound changes. Using the largest factor instead would be simpler, but the
fitted factors of the youngest classes are several times the oldest ones and most proposals would
be rejected. Between events a boundary costs O(D), a proposal K exponentials and D*K products.

Determinism: every draw comes from the numpy ``Generator`` passed in (seed it from a
``SeedSequence``); the draws are exponentials and uniforms in a fixed order, so the same seed
gives the same events bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class AgeFactors:
    """``factors`` (D, len(edges) + 1): the own-age factor of each dimension per class of
    ``edges`` (s, positive and increasing); the last class also holds before the first event."""

    factors: FloatArray
    edges: FloatArray

    def __post_init__(self) -> None:
        f = np.ascontiguousarray(np.atleast_2d(self.factors), dtype=np.float64)
        e = np.ascontiguousarray(self.edges, dtype=np.float64)
        if e.ndim != 1 or e.size == 0 or e[0] <= 0 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
            raise ValueError("age edges must be finite, positive and increasing")
        if f.ndim != 2 or f.shape[1] != e.size + 1:
            raise ValueError(f"age factors must be (D, {e.size + 1}) for {e.size} edges, got {f.shape}")
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError("age factors must be finite and >= 0")
        object.__setattr__(self, "factors", f)
        object.__setattr__(self, "edges", e)

    @property
    def dim(self) -> int:
        return int(self.factors.shape[0])

    @classmethod
    def ones(cls, dim: int, edges: FloatArray | tuple[float, ...]) -> AgeFactors:
        """Every factor 1: the plain multi-scale model's law."""
        e = np.asarray(edges, dtype=np.float64)
        return cls(np.ones((dim, e.size + 1)), e)

    def to_dict(self) -> dict[str, object]:
        return {"factors": self.factors.tolist(), "edges": self.edges.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AgeFactors:
        return cls(np.asarray(data["factors"]), np.asarray(data["edges"]))


@njit(cache=True)
def _grow(a: NDArray, n: int) -> NDArray:
    b = np.empty(max(2 * a.shape[0], n, 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, nogil=True)  # Monte Carlo paths draw their flow on several threads
def _simulate_age(base: FloatArray, edges: FloatArray, alpha: FloatArray, decays: FloatArray,
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


def simulate_age_arrays(params: MultiScaleParams, age: AgeFactors, horizon: float, rng: np.random.Generator, *,
                        start: float = 0.0, max_events: int = 200_000_000) -> tuple[FloatArray, IntArray]:
    """One exact path on ``[0, horizon]`` from an empty history as bare sorted (times, dims)."""
    if horizon <= 0:
        raise ValueError("horizon must be positive")
    if age.dim != params.dim:
        raise ValueError(f"age factors have {age.dim} dimensions, the model {params.dim}")
    t, d, truncated = _simulate_age(params.baseline, params.edges, params.alpha, params.decays, age.factors,
                                    age.edges, float(start), float(horizon), rng, int(max_events))
    if truncated:
        raise RuntimeError(f"more than max_events={max_events} events: is the process explosive?")
    return t, d


def draw_until(params: MultiScaleParams, age: AgeFactors, horizon: float, rng: np.random.Generator,
               max_events: int) -> tuple[FloatArray, IntArray, bool]:
    """Like :func:`simulate_age_arrays`, but a path that reaches ``max_events`` is returned (with a
    flag) instead of raising: to look at how an explosive model's paths explode."""
    if age.dim != params.dim:
        raise ValueError(f"age factors have {age.dim} dimensions, the model {params.dim}")
    t, d, truncated = _simulate_age(params.baseline, params.edges, params.alpha, params.decays, age.factors,
                                    age.edges, 0.0, float(horizon), rng, int(max_events))
    return t, d, bool(truncated)


def simulate_age(params: MultiScaleParams, age: AgeFactors, horizon: float, rng: np.random.Generator, *,
                 start: float = 0.0, max_events: int = 200_000_000) -> HawkesEvents:
    """One exact path on ``[0, horizon]``, the baseline profile read from time ``start``.

    No stationarity check beyond the caller's: the factors can make a model whose base is
    stationary explosive (a large young-age factor on fast self-excitation); ``max_events``
    turns that into an error instead of a silently truncated path.
    """
    t, d = simulate_age_arrays(params, age, horizon, rng, start=start, max_events=max_events)
    return HawkesEvents(t, d, float(horizon), params.dim)


def mean_rates(params: MultiScaleParams, age: AgeFactors, seconds: float = 20_000.0,
               seed: int = 0) -> FloatArray:
    """Long-run event rate per dimension (1/s), estimated from one seeded path of ``seconds``.

    Why estimated: with the age factors the rate has no closed form (the factor in force depends
    on the path's own intervals); the fixed seed keeps everything derived from it (the reference
    order's size) deterministic.
    """
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    _, d = simulate_age_arrays(params, age, seconds, gen)
    return np.asarray(np.bincount(d, minlength=params.dim) / seconds, dtype=np.float64)


@dataclass(frozen=True)
class Stability:
    """Whether a model with own-age factors can be simulated without exploding.

    ``bound`` is the spectral radius of ``diag(max factor) x branching``: below 1 the process is
    dominated by a stationary Hawkes process, so it cannot explode (sufficient, not necessary:
    the largest factor holds only briefly after a dimension's own event). Above 1 the check is
    empirical: ``paths_ok`` of ``n_paths`` seeded paths stayed under ``cap_ratio`` times the base
    model's expected count (none run when the base itself is not stationary). A fitted model can
    fail it: a young-age factor on a fast cross-excitation loop (cancel -> repost -> cancel at
    microseconds) feeds itself, and a path runs normally for a while and then bursts without end.
    """

    bound: float
    paths_ok: int
    n_paths: int

    @property
    def stable(self) -> bool:
        return self.bound < 1.0 or self.paths_ok == self.n_paths


def check_stability(params: MultiScaleParams, age: AgeFactors, horizon: float, seed: int, *, n_paths: int = 8,
                    cap_ratio: float = 50.0) -> Stability:
    """:class:`Stability` of ``params`` x ``age`` over ``n_paths`` seeded paths of ``horizon`` seconds."""
    bound = float(np.max(np.abs(np.linalg.eigvals(age.factors.max(axis=1)[:, None] * params.branching()))))
    if bound < 1.0:
        return Stability(bound, n_paths, n_paths)
    if params.spectral_radius() >= 1.0:  # the refitted base itself is not stationary: not run at all
        return Stability(bound, 0, n_paths)
    cap = int(cap_ratio * horizon * float(np.sum(params.mean_intensity()))) + 1000
    ok = 0
    for child in np.random.SeedSequence(seed).spawn(n_paths):
        try:
            simulate_age_arrays(params, age, horizon, np.random.Generator(np.random.PCG64(child)), max_events=cap)
        except RuntimeError:
            break  # one explosion settles it; the rest need not run
        ok += 1
    return Stability(bound, ok, n_paths)
