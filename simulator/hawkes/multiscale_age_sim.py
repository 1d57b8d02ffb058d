"""Exact simulation of the own-age-modulated multi-scale Hawkes model of
:mod:`simulator.hawkes.multiscale_age`, so the model the window fits prefer can drive a market path.

Intensity of dimension ``i`` (profile clock ``start + t``)::

    lambda_i(t) = factors[i, a_i(t)] * ( baseline[i, bin(start + t)] + sum_jk alpha[i, j, k] * decays[k] * A_jk(t) )

with ``a_i(t)`` the class over ``edges`` (s) of the time since dimension ``i``'s own last event
(the oldest class before its first one), as the fit defines it.

Why thinning and not the cluster sampler of :mod:`simulator.hawkes.multiscale`: the factor
multiplies the *whole* intensity, immigrants included, and depends on the path's own history,
so the process is no longer a Poisson cluster process. The thinning here is per kernel component
(since session 9; the first sampler, one bound for the whole intensity refreshed at every age
crossing, is kept in :mod:`simulator.hawkes.multiscale_age_ref` for the law tests):

* Between two events the intensity is ``sum_i f_i(t) * (mu_i + sum_k g_ik * exp(-decays[k] (t - t_g)))``:
  the baseline component and one component per time scale ``k``. Each is bounded on its own, and
  the bounded processes are superposed: the next proposal is the earliest of their next points,
  and a proposal of component ``k`` is accepted with (component ``k``'s intensity) / (its bound),
  which is exact thinning of each component, so of their sum.
* A scale's bound decays with its own kernel, ``w_k * exp(-decays[k] (t - t_g))``, so its next point
  is drawn exactly (one exponential, a ``log1p``, or none at all when its remaining mass is below
  the draw). Why: the one shared constant bound of the first sampler was the intensity right
  after an event, which the sub-microsecond kernel (decay 9.8e5/s on the AMZN calibration) makes
  ~1e5/s, so two of its three proposals were rejected; here the fast scales rarely propose at all.
* The factor in a bound is the largest factor of the dimension's current age class *or any older
  one*: the age only grows until the dimension's own next event, when everything is redrawn, so
  the bound holds without stopping at age crossings (the first sampler stopped and drew afresh at
  each, ~3 per event). A rejected proposal tightens its component's bound to the classes reached
  by then (the other components' pending points stay valid: a Poisson process's future does not
  depend on its past).
* A baseline bin edge (a change in ``mu``) still stops the clock and redraws every component.

On the AMZN own-age calibration this takes ~1.2 proposals per event instead of ~3 plus ~3.2
bound refreshes, at ~1.8x the events per second. The law is the same, the draws are not: the
digests of own-age paths changed with it (see ``benchmarks/RESULTS.md``, session 9).

Determinism: every draw comes from the numpy ``Generator`` passed in (seed it from a
``SeedSequence``); the draws are exponentials and uniforms in an order fixed by the path itself, so the
same seed gives the same events bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit
from numpy.typing import NDArray

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age_ref import _simulate_age_piecewise

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

    @cached_property
    def sup_ratio(self) -> float:
        """Which sampler draws this model (``MAX_SUP_RATIO``): derived once, not on every path of a
        Monte Carlo run."""
        f = self.factors
        sup = np.maximum.accumulate(f[:, ::-1], axis=1)[:, ::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sup > 0.0, sup / f, 1.0)
        return float(np.max(ratio)) if ratio.size else 1.0

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


@njit(cache=True)
def _next_arrival(w: float, beta: float, q: float, t: float, e: float) -> float:
    """First point after ``t`` of the Poisson process of intensity ``w * q * exp(-beta * (s - t))``
    for the unit exponential ``e``: the process's total mass after ``t`` is ``w * q / beta``, so it
    has no further point (inf) when ``e`` exceeds it, else the inverse of its compensator."""
    x = e * beta / (w * q) if w * q > 0.0 else np.inf
    if x >= 1.0:
        return np.inf
    return t - np.log1p(-x) / beta


@njit(cache=True, nogil=True)  # Monte Carlo paths draw their flow on several threads
def _simulate_age(base: FloatArray, edges: FloatArray, alpha: FloatArray, decays: FloatArray,
                  factors: FloatArray, age_edges: FloatArray, t0: float, horizon: float,
                  rng: np.random.Generator, max_events: int) -> tuple[FloatArray, IntArray, bool]:
    d, nb = base.shape
    k_sc = decays.shape[0]
    na = factors.shape[1]
    period = edges[-1]
    jump = np.empty((d, k_sc, d))  # jump[j, k, i]: what one event of j adds to g[k, i]
    for i in range(d):
        for j in range(d):
            for k in range(k_sc):
                jump[j, k, i] = alpha[i, j, k] * decays[k]
    # sup[i, c]: the largest factor of dimension i from class c on; its age class only grows until
    # its next event, so sup[i, class now] bounds its factor until then
    sup = factors.copy()
    for i in range(d):
        for c in range(na - 2, -1, -1):
            sup[i, c] = max(sup[i, c], sup[i, c + 1])
    g = np.zeros((k_sc, d))  # excitation of target i at scale k, as of time t_g
    t_g = 0.0
    cls = np.full(d, na - 1, np.int64)
    fac = np.empty(d)  # factors[i, cls[i]]
    bnd = np.empty(d)  # sup[i, cls[i]]
    for i in range(d):
        fac[i] = factors[i, na - 1]
        bnd[i] = sup[i, na - 1]
    last = np.zeros(d)
    nxt = np.full(d, np.inf)  # next age crossing of each dimension
    nxt_min = np.inf
    # Component k < K: bound intensity w[k] * exp(-decays[k] * (s - t_g)) of the scale-k excitation,
    # next point arr[k]; component K: the baseline's constant bound w[K], next point arr[K].
    w = np.zeros(k_sc + 1)
    arr = np.full(k_sc + 1, np.inf)
    # baseline bin of the profile clock start + t, and the path time of its end
    p = np.floor(t0 / period)
    r = t0 - p * period
    b = 0
    while b < nb - 1 and r >= edges[b + 1]:
        b += 1
    next_bin = p * period + edges[b + 1] - t0
    cap = 1024
    times = np.empty(cap)
    dims = np.empty(cap, np.int64)
    n = 0
    t = 0.0
    truncated = False
    redraw = True
    while True:
        if redraw:  # after an event or a bin edge: every component's bound and next point from t (= t_g)
            for k in range(k_sc):
                s = 0.0
                for i in range(d):
                    s += bnd[i] * g[k, i]
                w[k] = s
                arr[k] = _next_arrival(s, decays[k], 1.0, t, rng.standard_exponential()) if s > 0.0 else np.inf
            s = 0.0
            for i in range(d):
                s += bnd[i] * base[i, b]
            w[k_sc] = s
            arr[k_sc] = t + rng.standard_exponential() / s if s > 0.0 else np.inf
            redraw = False
        kk = 0
        ta = arr[0]
        for k in range(1, k_sc + 1):
            if arr[k] < ta:
                ta = arr[k]
                kk = k
        if next_bin <= ta:
            if next_bin >= horizon:
                break
            # The baseline changes here: decay the excitation to the edge and redraw everything.
            t = next_bin
            _decay(g, decays, t - t_g)
            t_g = t
            b += 1
            if b == nb:
                b = 0
                p += 1.0
            next_bin = p * period + edges[b + 1] - t0
            if t >= nxt_min:
                nxt_min = _age_classes(t, cls, fac, bnd, nxt, last, factors, sup, age_edges)
            redraw = True
            continue
        if ta >= horizon:
            break
        t = ta
        if t >= nxt_min:
            nxt_min = _age_classes(t, cls, fac, bnd, nxt, last, factors, sup, age_edges)
        # Thinning of component kk: accept with (its intensity now) / (its bound now); the decay since
        # t_g is common to both and cancels, and u * bound also picks the dimension.
        x = rng.random() * w[kk]
        acc = 0.0
        tight = 0.0
        m = -1
        if kk == k_sc:
            for i in range(d):
                acc += fac[i] * base[i, b]
                tight += bnd[i] * base[i, b]
                if m < 0 and x < acc:
                    m = i
        else:
            for i in range(d):
                acc += fac[i] * g[kk, i]
                tight += bnd[i] * g[kk, i]
                if m < 0 and x < acc:
                    m = i
        if m < 0:
            # Rejected: the ages moved on, so this component's bound tightens to the suffix maxima
            # now, and its next point is drawn from t (memoryless); the others' points stay valid.
            w[kk] = tight
            if kk == k_sc:
                arr[kk] = t + rng.standard_exponential() / tight if tight > 0.0 else np.inf
            else:
                q = np.exp(-decays[kk] * (t - t_g))
                arr[kk] = _next_arrival(tight, decays[kk], q, t, rng.standard_exponential())
            continue
        if n >= max_events:
            truncated = True
            break
        if n == times.shape[0]:
            times = _grow(times, n + 1)
            dims = _grow(dims, n + 1)
        times[n] = t
        dims[n] = m
        n += 1
        _decay(g, decays, t - t_g)
        for k in range(k_sc):
            for i in range(d):
                g[k, i] += jump[m, k, i]
        t_g = t
        last[m] = t
        cls[m] = 0
        fac[m] = factors[m, 0]
        bnd[m] = sup[m, 0]
        nxt[m] = t + age_edges[0]
        if nxt[m] < nxt_min:
            nxt_min = nxt[m]
        redraw = True
    return times[:n].copy(), dims[:n].copy(), truncated


@njit(cache=True)
def _decay(g: FloatArray, decays: FloatArray, dt: float) -> None:
    """The excitation ``g`` (K, D) ``dt`` seconds later. Where ``exp(-decays[k] * dt)`` is below
    e^-700 (1e-304) the scale's terms are set to 0 instead: they are far below the rounding of any
    intensity they add to, and multiplying by the (sub)normal results of exp near underflow is slow."""
    for k in range(decays.shape[0]):
        y = decays[k] * dt
        if y < 700.0:
            dec = np.exp(-y)
            for i in range(g.shape[1]):
                g[k, i] *= dec
        else:
            for i in range(g.shape[1]):
                g[k, i] = 0.0


@njit(cache=True)
def _age_classes(t: float, cls: IntArray, fac: FloatArray, bnd: FloatArray, nxt: FloatArray, last: FloatArray,
                 factors: FloatArray, sup: FloatArray, age_edges: FloatArray) -> float:
    """Move every dimension's age class on to time ``t``; returns the next crossing of any."""
    na = factors.shape[1]
    nxt_min = np.inf
    for i in range(cls.shape[0]):
        if nxt[i] <= t:
            c = cls[i]
            while nxt[i] <= t:
                c += 1
                nxt[i] = last[i] + age_edges[c] if c < na - 1 else np.inf
            cls[i] = c
            fac[i] = factors[i, c]
            bnd[i] = sup[i, c]
        if nxt[i] < nxt_min:
            nxt_min = nxt[i]
    return nxt_min


# The per-component bound holds a dimension at the largest factor of its current or any older class.
# Where that is far above the current factor (a rarely reached old class with a huge factor, as some
# windows of real data fit), nearly every proposal is rejected: with an oldest-class factor of 1,000
# over young ones of 0.3-0.5, 0.291 s against the piecewise sampler's 0.001 s for 7,000 events, and
# the validation report's stability checks ran for many minutes. Such models take the piecewise
# sampler (multiscale_age_ref.py, the same law; tests compare the two). The AMZN own-age model's
# ratio is 1.47.
MAX_SUP_RATIO = 4.0


def sup_ratio(age: AgeFactors) -> float:
    """The largest ratio, over dimensions and classes, of the suffix-maximum factor to the factor
    (``AgeFactors.sup_ratio``, computed once per model)."""
    return age.sup_ratio


def _draw(params: MultiScaleParams, age: AgeFactors, start: float, horizon: float, rng: np.random.Generator,
          max_events: int) -> tuple[FloatArray, IntArray, bool]:
    draw = _simulate_age if age.sup_ratio <= MAX_SUP_RATIO else _simulate_age_piecewise
    t, d, truncated = draw(params.baseline, params.edges, params.alpha, params.decays, age.factors, age.edges,
                           start, horizon, rng, max_events)
    return t, d, bool(truncated)


def simulate_age_arrays(params: MultiScaleParams, age: AgeFactors, horizon: float, rng: np.random.Generator, *,
                        start: float = 0.0, max_events: int = 200_000_000) -> tuple[FloatArray, IntArray]:
    """One exact path on ``[0, horizon]`` from an empty history as bare sorted (times, dims)."""
    if horizon <= 0:
        raise ValueError("horizon must be positive")
    if age.dim != params.dim:
        raise ValueError(f"age factors have {age.dim} dimensions, the model {params.dim}")
    t, d, truncated = _draw(params, age, float(start), float(horizon), rng, int(max_events))
    if truncated:
        raise RuntimeError(f"more than max_events={max_events} events: is the process explosive?")
    return t, d


def draw_until(params: MultiScaleParams, age: AgeFactors, horizon: float, rng: np.random.Generator,
               max_events: int) -> tuple[FloatArray, IntArray, bool]:
    """Like :func:`simulate_age_arrays`, but a path that reaches ``max_events`` is returned (with a
    flag) instead of raising: to look at how an explosive model's paths explode."""
    if age.dim != params.dim:
        raise ValueError(f"age factors have {age.dim} dimensions, the model {params.dim}")
    t, d, truncated = _draw(params, age, 0.0, float(horizon), rng, int(max_events))
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
