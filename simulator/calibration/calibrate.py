"""Recorded flow -> fitted :class:`MarketModel` plus a goodness-of-fit report.

The Hawkes part is the Hawkes package's maximum-likelihood fit (free decays, stationarity
penalty) and its time-rescaling KS test; this module only decides what to fit and how to carry
the result into the market model:

* a dimension with no events in the data (the level-1 LOBSTER sample has no deep limits) cannot
  be fitted; it is fitted out and put back with a negligible baseline and no excitation, so the
  model keeps ten dimensions and the report says plainly that the dimension was empty;
* sizes are fitted per dimension with the Hawkes package's empirical mark fit (round lots are
  real and matter for depth); an empty dimension borrows the size law of the same side's touch;
* deep-limit, cancel, inside-improvement and level-gap distances become quantile tables; with
  no deep observations a deep limit goes one tick behind the touch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.calibration.flow import RecordedFlow
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.fit import FitResult, fit
from simulator.hawkes.goodness import GoodnessReport
from simulator.hawkes.marks import MarkDistribution, fit_marks
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AgeModulatedFit, fit_age_modulated
from simulator.hawkes.multiscale_age_curve import CURVE_DEGREES, fit_age_curve
from simulator.hawkes.multiscale_age_curve_stable import fit_curve_stable
from simulator.hawkes.multiscale_age_sim import AgeFactors
from simulator.hawkes.multiscale_age_stable import stabilise
from simulator.hawkes.multiscale_fit import Candidate, ModelChoice, select_model
from simulator.hawkes.params import HawkesParams
from simulator.market.model import N_QUANTILES, MarketModel, quantile_table
from simulator.market.types import DIM_NAMES, LIMIT_ASK_TOUCH, LIMIT_BID_TOUCH, N_DIMS
from simulator.version import SIMULATOR_VERSION

ABSENT_MU = 1e-9  # baseline of a dimension never observed: one event in ~30 years
MIN_EVENTS = 5  # fewer than this and a dimension is treated as absent


@dataclass(frozen=True)
class DimensionReport:
    name: str
    n_events: int
    fitted: bool
    ks_statistic: float
    ks_pvalue: float
    empirical_rate: float
    model_rate: float


@dataclass(frozen=True)
class Calibration:
    model: MarketModel
    fit: FitResult
    dims: list[DimensionReport]
    active: list[int]
    choice: ModelChoice | None = None
    """With ``flow_model="select"``: every candidate tried and the one the criterion chose."""
    own_age_fit: AgeModulatedFit | None = None
    own_age_name: str = ""
    """With ``own_age=True``: the own-age model fitted (kept or not) and its name."""

    def report_rows(self) -> list[dict[str, Any]]:
        return [d.__dict__ for d in self.dims]


def _embed(sub: HawkesParams, active: list[int]) -> HawkesParams:
    mu = np.full(N_DIMS, ABSENT_MU)
    alpha = np.zeros((N_DIMS, N_DIMS))
    beta = np.ones((N_DIMS, N_DIMS))
    idx = np.asarray(active)
    mu[idx] = sub.mu
    alpha[np.ix_(idx, idx)] = sub.alpha
    beta[np.ix_(idx, idx)] = sub.beta
    return HawkesParams(mu, alpha, beta)


def _embed_multiscale(sub: MultiScaleParams, active: list[int]) -> MultiScaleParams:
    k = sub.n_scales
    base = np.full((N_DIMS, sub.n_bins), ABSENT_MU)
    alpha = np.zeros((N_DIMS, N_DIMS, k))
    idx = np.asarray(active)
    base[idx] = sub.baseline
    alpha[np.ix_(idx, idx, np.arange(k))] = sub.alpha
    return MultiScaleParams(base, sub.edges, alpha, sub.decays)


def _embed_age(fit: AgeModulatedFit, active: list[int]) -> AgeFactors:
    """The fitted age factors on all ten dimensions (1 on the unfitted ones, which keep their
    negligible baseline)."""
    f = np.ones((N_DIMS, fit.factors.shape[1]))
    f[np.asarray(active)] = fit.factors
    return AgeFactors(f, fit.age_edges)


def _own_age_choice(ms: Candidate, events: HawkesEvents, best: Candidate, criterion: str, horizon: float,
                    say: Callable[[str], None]) -> tuple[AgeModulatedFit, str, bool]:
    """The own-age variant (the class model and the curves of
    :data:`simulator.hawkes.multiscale_age_curve.CURVE_DEGREES`, on ``ms``) the criterion prefers
    among the runnable ones, its name, and whether it beats ``best`` (the candidates' choice).

    A variant whose paths explode is refitted under its family's stability constraint, which
    lowers the likelihood at the same count, so its unconstrained score is a floor: the variants
    are made runnable in order of that floor, and the search stops once the best runnable score
    so far is at or below the next floor (or the floor is no better than ``best``); the choice is
    the same as making every variant runnable, at a fraction of the cost on a long recording."""
    def score(f: AgeModulatedFit) -> float:
        return float(getattr(f, criterion))

    def name(f: AgeModulatedFit, constraint: str) -> str:
        return (f"{ms.name} x own age" + (f" curve (degree {f.degree})" if f.degree else "")
                + (f" (stable: {constraint})" if constraint else ""))

    say(f"fitting own-age factors on {ms.name}: a factor per age class, and curves of degree {list(CURVE_DEGREES)}")
    fits = [fit_age_modulated(ms.params, events)]  # type: ignore[arg-type]
    fits += [fit_age_curve(ms.params, events, p) for p in CURVE_DEGREES]  # type: ignore[arg-type]
    for f in fits:
        say(f"{name(f, '')}: {criterion.upper()} {score(f):.0f} vs {getattr(best, criterion):.0f} ({best.name})")
    chosen: tuple[AgeModulatedFit, str] | None = None
    for f in sorted(fits, key=score):
        if (chosen is not None and score(chosen[0]) <= score(f)) or score(f) >= getattr(best, criterion):
            break
        run = stabilise(f, events, horizon, seed=0, refit=fit_curve_stable if f.degree else None)
        if run.constraint:
            say(f"{name(f, '')}: its simulated paths explode; constrained on {run.constraint}: "
                f"{criterion.upper()} {score(run.fit):.0f}")
        if chosen is None or score(run.fit) < score(chosen[0]):
            chosen = (run.fit, name(run.fit, run.constraint))
    if chosen is None:  # no variant beats the candidates even unconstrained: report the best one
        f = min(fits, key=score)
        return f, name(f, ""), False
    kept = score(chosen[0]) < getattr(best, criterion)
    if not kept:
        say("x own age: the stable model is no longer preferred; not kept")
    return chosen[0], chosen[1], kept


def _offset_table(samples: np.ndarray, floor: int, default: int) -> np.ndarray:
    if samples.size == 0:
        return np.full(N_QUANTILES, default, np.int64)
    return quantile_table(samples, floor=floor)


def calibrate(flow: RecordedFlow, *, fit_kwargs: dict[str, Any] | None = None,
              progress: Callable[[str], None] | None = None, flow_model: str = "exp",
              scales: Sequence[int] = (1, 2, 3, 4), bins: Sequence[int] = (1,),
              criterion: str = "bic", own_age: bool = False) -> Calibration:
    """Fit the ten-dimensional model to ``flow``; returns the model and the per-dimension KS report.

    ``flow_model="exp"`` (default) is the stationary one-exponential-per-pair model, as always.
    ``flow_model="select"`` also fits multi-scale models (``scales`` x baseline ``bins``) and lets
    ``criterion`` choose among all of them; if a multi-scale model wins, the market model carries
    it (``MarketModel.multiscale``) and the KS report is the winner's.
    ``own_age=True`` (opt-in; needs ``flow_model="select"``) also fits own-age factors on the best
    multi-scale candidate by ``criterion`` (a factor per age class,
    :func:`simulator.hawkes.multiscale_age.fit_age_modulated`, and the curves in log age of
    :mod:`simulator.hawkes.multiscale_age_curve`; the criterion picks among them), and keeps them
    (``MarketModel.own_age``, with the refitted baselines and weights) only when the criterion
    prefers that model to every candidate; otherwise nothing changes. When its paths explode, the
    stability-constrained refit of its family (:func:`simulator.hawkes.multiscale_age_stable.stabilise`)
    takes its place, kept on the same terms.
    """
    if flow_model not in ("exp", "select"):
        raise ValueError(f"flow_model must be 'exp' or 'select', not {flow_model!r}")
    if own_age and flow_model != "select":
        raise ValueError("own_age=True scales the multi-scale models: use flow_model='select'")
    say = progress or (lambda _msg: None)
    counts = flow.counts()
    active = [i for i in range(N_DIMS) if counts[i] >= MIN_EVENTS]
    if len(active) < 2:
        raise ValueError(f"{flow.source}: need at least two event types with >= {MIN_EVENTS} events, "
                         f"got counts {dict(zip(DIM_NAMES, counts.tolist(), strict=True))}")
    keep = np.isin(flow.dims, active)
    remap = np.full(N_DIMS, -1, np.int64)
    remap[active] = np.arange(len(active))
    events = HawkesEvents(flow.times[keep], remap[flow.dims[keep]], flow.horizon, len(active))
    say(f"fitting {len(active)}-dimensional Hawkes to {len(events)} events over {flow.horizon:.0f} s")
    result = fit(events, **(fit_kwargs or {}))
    params = _embed(result.params, active)
    choice = None
    multiscale = None
    age_factors = None
    age: AgeModulatedFit | None = None
    age_name = ""
    flow_name = None
    gof = result.goodness
    if flow_model == "select":
        say(f"fitting multi-scale candidates: scales {list(scales)} x baseline bins {list(bins)}")
        choice = select_model(events, scales=scales, bins=bins, criterion=criterion, exp_fit=result)
        say(f"{criterion.upper()} chose: {choice.best.name}")
        gof = choice.best.goodness
        flow_name = choice.best.name
        if isinstance(choice.best.params, MultiScaleParams):
            multiscale = _embed_multiscale(choice.best.params, active)
        if own_age:
            ms = min((c for c in choice.candidates if isinstance(c.params, MultiScaleParams)),
                     key=lambda c: getattr(c, criterion))
            age, age_name, kept = _own_age_choice(ms, events, choice.best, criterion, max(flow.horizon, 3600.0), say)
            if kept:
                multiscale = _embed_multiscale(age.base, active)
                age_factors = _embed_age(age, active)
                gof = age.goodness
                flow_name = age_name

    marks: list[MarkDistribution] = []
    for i in range(N_DIMS):
        s = flow.sizes[flow.dims == i]
        if s.size >= MIN_EVENTS:
            marks.append(fit_marks(s, "empirical"))
        else:
            touch = LIMIT_BID_TOUCH if i % 2 == 0 else LIMIT_ASK_TOUCH
            ts = flow.sizes[flow.dims == touch]
            marks.append(fit_marks(ts if ts.size else flow.sizes, "empirical"))
    spreads = flow.spreads[flow.spreads > 0]
    init_spread = int(np.median(spreads)) if spreads.size else 1
    model = MarketModel(
        hawkes=params,
        marks=tuple(marks),
        deep_offset_table=np.vstack([_offset_table(flow.deep_offsets[0], 1, 1),
                                     _offset_table(flow.deep_offsets[1], 1, 1)]),
        cancel_offset_table=np.vstack([_offset_table(flow.cancel_offsets[0], 0, 0),
                                       _offset_table(flow.cancel_offsets[1], 0, 0)]),
        inside_offset_table=np.vstack([_offset_table(flow.inside_offsets[0], 1, 1),
                                       _offset_table(flow.inside_offsets[1], 1, 1)]),
        level_gap_table=_offset_table(flow.level_gaps, 1, 1),
        tick_size=flow.tick_size,
        ref_price=flow.ref_price,
        init_spread_ticks=max(1, init_spread),
        multiscale=multiscale,
        own_age=age_factors,
        metadata={
            "symbol": flow.symbol,
            "source": flow.source,
            "simulator_version": SIMULATOR_VERSION,
            "horizon_s": flow.horizon,
            "n_events": len(flow),
            "event_counts": dict(zip(DIM_NAMES, counts.tolist(), strict=True)),
            "fitted_dims": [DIM_NAMES[i] for i in active],
            "loglik": result.loglik,
            "converged": result.converged,
            "spectral_radius": result.spectral_radius,
            "decays_at_bound": [[DIM_NAMES[active[i]], DIM_NAMES[active[j]]] for i, j in result.decays_at_bound],
            "mapping_diagnostics": flow.diagnostics,
            "median_spread_ticks": init_spread,
        } | ({} if choice is None else {"flow_model": flow_name, "criterion": criterion})
        | ({"event_clock": "receive time, de-batched", "debatch": dict(flow.debatch)} if flow.debatch else {}),
    )
    return Calibration(model, result, _dim_reports(gof, counts, active, flow.horizon), active, choice, age, age_name)


def _dim_reports(gof: GoodnessReport, counts: np.ndarray, active: list[int], horizon: float) -> list[DimensionReport]:
    by_dim = {active[d.dim]: d for d in gof.dims}
    out = []
    for i in range(N_DIMS):
        d = by_dim.get(i)
        if d is None:
            out.append(DimensionReport(DIM_NAMES[i], int(counts[i]), False, float("nan"), float("nan"),
                                       counts[i] / horizon, ABSENT_MU))
        else:
            out.append(DimensionReport(DIM_NAMES[i], int(counts[i]), True, d.ks_statistic, d.ks_pvalue,
                                       d.empirical_rate, d.model_rate))
    return out
