"""Rolling-window calibration and goodness of fit: the model a consumer would fit on each window.

Why windows: a model fitted once per day is judged on hours it cannot follow, and the simulation
consumer recalibrates on what it has just seen. Each window is fitted on its own, from an empty
history (the first events of a window lose the excitation of the previous one, a small bias that
favours neither model), with

* the stationary one-exponential-per-pair model with a constant baseline (the model before
  multi-scale kernels, :func:`simulator.hawkes.fit.fit`), and
* the candidate multi-scale models (K shared decays x B baseline bins),

and the information criterion picks among all of them. Both the reference model's and the chosen
model's per-dimension KS tests are kept, so the report can set them side by side.

On top of the best multi-scale candidate (by BIC) each window also fits the spread-modulated model
of :mod:`simulator.hawkes.multiscale_state` (every intensity scaled by a factor per spread class)
on each partition of :data:`STATE_PARTITIONS` (the window's spread terciles; the fixed one, two,
three-or-more tick classes of the state-dependent Hawkes literature), and BIC picks the partition:
the book-state dependence the queue-reactive literature describes, tested the same way. The
information criterion then also chooses among *all* models, state-dependent ones included, and
the report says which won; the spread-state models are never the model handed to the simulator
(the market engine cannot draw state-dependent flow yet). The own-age model can be simulated
(:mod:`simulator.hawkes.multiscale_age_sim`), so the criterion also chooses among the *runnable*
models: the candidates and the own-age variants of :func:`own_age_variants` (the class model and
the own-age curves of :mod:`simulator.hawkes.multiscale_age_curve`, on BIC's and AIC's best
multi-scale base, each stability-constrained where it explodes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.calibration.flow import RecordedFlow
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AGE_EDGES, fit_age_modulated
from simulator.hawkes.multiscale_age_curve import CURVE_DEGREES, fit_age_curve
from simulator.hawkes.multiscale_age_curve_stable import fit_curve_stable
from simulator.hawkes.multiscale_age_sim import AgeFactors, check_stability
from simulator.hawkes.multiscale_age_stable import RunnableAge, stabilise
from simulator.hawkes.multiscale_fit import Candidate, ModelChoice, select_model
from simulator.hawkes.multiscale_state import (
    StateModulatedFit,
    compact_states,
    fit_state_modulated,
    spread_states,
    tick_states,
)
from simulator.market.types import DIM_NAMES, N_DIMS

MIN_WINDOW_EVENTS = 20
"""A dimension with fewer events in a window is not fitted there (no KS test on a handful)."""


@dataclass(frozen=True)
class WindowFit:
    """One window: which dimensions were fitted, and the KS (statistic, p-value) of each model."""

    source: str
    start_s: float
    end_s: float
    n_events: int
    dims: list[str]  # fitted dimensions
    counts: list[int]
    reference_ks: list[tuple[float, float]]  # exp per pair, constant baseline
    chosen: str
    chosen_ks: list[tuple[float, float]]
    candidates: list[tuple[str, int, float, float]]  # name, parameters, log-likelihood, BIC
    aic_chosen: str = ""
    aic_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """The model AIC would choose, and its KS: AIC aims at prediction (expected Kullback-Leibler
    loss), BIC at picking the true model from a family that here cannot contain it; both shown."""
    state_base: str = ""  # the multi-scale candidate the spread-modulated model scales
    state_classes: int = 1
    state_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    state_bic: float = float("nan")
    state_base_bic: float = float("nan")
    state_factors: list[list[float]] = dataclasses.field(default_factory=list)  # (dims, classes), narrow -> wide
    state_partition: str = ""  # the spread partition BIC chose for the state-dependent model
    state_partition_bic: dict[str, float] = dataclasses.field(default_factory=dict)
    all_chosen: str = ""  # BIC's choice among every model, state- and age-dependent included
    all_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    all_aic_chosen: str = ""  # AIC's choice among every model
    all_aic_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    age_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # x own-age factor
    age_bic: float = float("nan")
    age_factors: list[list[float]] = dataclasses.field(default_factory=list)  # (dims, age classes), young -> old
    both_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # x spread state x own age
    both_bic: float = float("nan")
    run_chosen: str = ""  # BIC's choice among the models the simulator can run (candidates, x own age)
    run_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    run_aic_chosen: str = ""  # AIC's choice among them
    run_aic_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    age_model: tuple[MultiScaleParams, NDArray[np.float64]] | None = dataclasses.field(default=None, compare=False)
    """The runnable own-age model (refitted base, factors over
    :data:`simulator.hawkes.multiscale_age.AGE_EDGES`), so a path can be drawn from it: the
    unconstrained fit where its paths stay finite, else the stability-constrained one."""
    ms_model: MultiScaleParams | None = dataclasses.field(default=None, compare=False)  # the model it scales
    age_raw_model: tuple[MultiScaleParams, NDArray[np.float64]] | None = dataclasses.field(default=None, compare=False)
    """The unconstrained own-age fit (the same as ``age_model`` where it runs), so the report can
    show how its paths explode."""
    age_stable: bool = True
    """Whether the unconstrained own-age fit simulates without exploding
    (:func:`simulator.hawkes.multiscale_age_sim.check_stability` over 8 paths of 4 windows)."""
    age_bound: float = float("nan")  # unconstrained fit: rho(diag(max factor) x branching) (< 1: provably stable)
    age_constraint: str = ""
    """'' when the unconstrained own-age fit runs, else the rung of
    :func:`simulator.hawkes.multiscale_age_stable.stabilise` whose constrained fit runs instead."""
    run_age_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # the runnable own-age model
    run_age_bic: float = float("nan")
    run_age_aic: float = float("nan")
    run_age_bound: float = float("nan")
    cls_run_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """BIC's choice among the runnable models under the rule before the own-age curves (the
    candidates and the class model on BIC's best multi-scale base only), so the report can show
    what the further own-age variants add."""
    cls_run_aic_ks: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    age_variants: list[tuple[str, int, float, float, float]] = dataclasses.field(default_factory=list)
    """Every runnable own-age variant (:data:`CURVE_DEGREES` curves and the class model, on BIC's and
    AIC's best multi-scale base): (name, parameters, log-likelihood, BIC, AIC), stability-constrained
    where the unconstrained fit explodes (the name then says the rung)."""
    age_variant_ks: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    age_choice: str = ""  # the own-age variant BIC prefers among them
    age_choice_model: tuple[MultiScaleParams, NDArray[np.float64]] | None = dataclasses.field(default=None,
                                                                                             compare=False)
    """That variant's runnable model (base, factors over ``AGE_EDGES``): the one the report draws."""

    candidate_ks_by_name: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)

    def candidate_ks(self, name: str) -> list[tuple[float, float]]:
        """KS (statistic, p-value) per dimension of the candidate called ``name``."""
        return self.candidate_ks_by_name[name]

    def passes(self, which: str, level: float = 0.05) -> int:
        ks = {"reference": self.reference_ks, "chosen": self.chosen_ks, "aic": self.aic_ks,
              "state": self.state_ks, "all": self.all_ks, "all_aic": self.all_aic_ks, "age": self.age_ks,
              "both": self.both_ks, "run": self.run_ks, "run_aic": self.run_aic_ks,
              "run_age": self.run_age_ks, "cls_run": self.cls_run_ks, "cls_run_aic": self.cls_run_aic_ks}[which]
        return sum(p > level for _, p in ks)


def window_events(flow: RecordedFlow, start: float, end: float,
                  min_events: int = MIN_WINDOW_EVENTS) -> tuple[HawkesEvents, list[int]]:
    """Events of ``[start, end)`` shifted to start at 0, over the dimensions with enough events."""
    sel = (flow.times >= start) & (flow.times < end)
    t, d = flow.times[sel] - start, flow.dims[sel]
    counts = np.bincount(d, minlength=N_DIMS)
    active = [i for i in range(N_DIMS) if counts[i] >= min_events]
    keep = np.isin(d, active)
    remap = np.full(N_DIMS, -1, np.int64)
    remap[active] = np.arange(len(active))
    return HawkesEvents(t[keep], remap[d[keep]], end - start, len(active)), active


def fit_window(flow: RecordedFlow, start: float, end: float, *, scales: Sequence[int] = (1, 2, 3, 4),
               bins: Sequence[int] = (1, 3), criterion: str = "bic") -> tuple[WindowFit, ModelChoice]:
    ev, active = window_events(flow, start, end)
    if len(active) < 2:
        raise ValueError(f"window [{start}, {end}) of {flow.source} has fewer than two dimensions with "
                         f"{MIN_WINDOW_EVENTS} events")
    choice = select_model(ev, scales=scales, bins=bins, criterion=criterion, include_exp_per_pair=True)
    ref = next(c for c in choice.candidates if c.n_scales == 0)
    by_aic = min(choice.candidates, key=lambda c: c.aic)

    def ks(c: object) -> list[tuple[float, float]]:
        return [(d.ks_statistic, d.ks_pvalue) for d in c.goodness.dims]  # type: ignore[attr-defined]

    ms = min((c for c in choice.candidates if isinstance(c.params, MultiScaleParams)), key=lambda c: c.bic)
    fits: dict[str, StateModulatedFit] = {}
    for part in STATE_PARTITIONS:
        states, tail_state, n_states = window_states(flow, start, end, active, part)
        if n_states > 1:
            fits[part] = fit_state_modulated(ms.params, ev, states, tail_state, n_states)  # type: ignore[arg-type]
    if not fits:  # the spread never left one class: the state model is the multi-scale one
        states, tail_state, n_states = window_states(flow, start, end, active)
        fits[STATE_PARTITIONS[0]] = fit_state_modulated(ms.params, ev, states, tail_state, n_states)  # type: ignore[arg-type]
    part_best = min(fits, key=lambda k: fits[k].bic)
    st = fits[part_best]
    n_states = st.factors.shape[1]
    state_name = f"{ms.name} x spread state ({part_best})"
    age = fit_age_modulated(ms.params, ev)  # type: ignore[arg-type]
    states, tail_state, n_st = window_states(flow, start, end, active, part_best)
    both = fit_age_modulated(ms.params, ev, states=states, tail_state=tail_state,  # type: ignore[arg-type]
                             n_states=n_st)
    runnable = [(c.name, c.bic, c.aic, ks(c)) for c in choice.candidates]
    stab = check_stability(age.base, AgeFactors(age.factors, np.asarray(AGE_EDGES)), 4 * (end - start),
                           seed=int(start))
    # a model whose paths explode is not one the simulator can run: refit under a stability
    # constraint, and let the criterion decide whether the constrained model still beats the rest
    run_age = stabilise(age, ev, 4 * (end - start), int(start), stability=stab)
    ra = run_age.fit
    age_label = f"{ms.name} x own age" + (f" (stable: {run_age.constraint})" if run_age.constraint else "")
    cls_rule = [*runnable, (age_label, ra.bic, ra.aic, ks(ra))]
    variants = own_age_variants(ev, ms, min((c for c in choice.candidates if isinstance(c.params, MultiScaleParams)),
                                            key=lambda c: c.aic), (age_label, run_age), 4 * (end - start), int(start))
    runnable += [(n, v.fit.bic, v.fit.aic, ks(v.fit)) for n, v in variants]
    run_name, _, _, run_ks = min(runnable, key=lambda c: c[1])
    run_aic_name, _, _, run_aic_ks = min(runnable, key=lambda c: c[2])
    age_choice, age_run = min(variants, key=lambda nv: nv[1].fit.bic)
    every = [*runnable, (state_name, st.bic, st.aic, ks(st)),
             (f"{state_name} x own age", both.bic, both.aic, ks(both))]
    all_name, _, _, all_ks = min(every, key=lambda c: c[1])
    aic_name, _, _, aic_ks = min(every, key=lambda c: c[2])
    wf = WindowFit(source=flow.source, start_s=start, end_s=end, n_events=len(ev),
                   dims=[DIM_NAMES[i] for i in active], counts=ev.counts().tolist(), reference_ks=ks(ref),
                   chosen=choice.best.name, chosen_ks=ks(choice.best),
                   candidates=[(c.name, c.n_params, c.loglik, c.bic) for c in choice.candidates],
                   aic_chosen=by_aic.name, aic_ks=ks(by_aic), state_base=ms.name, state_classes=n_states,
                   state_ks=ks(st), state_bic=st.bic, state_base_bic=ms.bic, state_factors=st.factors.tolist(),
                   state_partition=part_best, state_partition_bic={k: f.bic for k, f in fits.items()},
                   all_chosen=all_name, all_ks=all_ks, all_aic_chosen=aic_name, all_aic_ks=aic_ks,
                   age_ks=ks(age), age_bic=age.bic, age_factors=age.factors.tolist(),
                   both_ks=ks(both), both_bic=both.bic, run_chosen=run_name, run_ks=run_ks,
                   run_aic_chosen=run_aic_name, run_aic_ks=run_aic_ks, age_model=(ra.base, ra.factors),
                   age_raw_model=(age.base, age.factors),
                   ms_model=ms.params, age_stable=stab.stable, age_bound=stab.bound,  # type: ignore[arg-type]
                   age_constraint=run_age.constraint, run_age_ks=ks(ra), run_age_bic=ra.bic, run_age_aic=ra.aic,
                   run_age_bound=run_age.stability.bound, cls_run_ks=min(cls_rule, key=lambda c: c[1])[3],
                   cls_run_aic_ks=min(cls_rule, key=lambda c: c[2])[3],
                   age_variants=[(n, v.fit.n_params, v.fit.loglik, v.fit.bic, v.fit.aic) for n, v in variants],
                   age_variant_ks={n: ks(v.fit) for n, v in variants}, age_choice=age_choice,
                   age_choice_model=(age_run.fit.base, age_run.fit.factors),
                   candidate_ks_by_name={c.name: ks(c) for c in choice.candidates})
    return wf, choice


def own_age_variants(ev: HawkesEvents, ms: Candidate, ms_aic: Candidate, cls: tuple[str, RunnableAge],
                     horizon: float, seed: int) -> list[tuple[str, RunnableAge]]:
    """The runnable own-age variants of a window, named as the report shows them: ``cls`` (the class
    model on BIC's best multi-scale base ``ms``, already made runnable), the curves of
    :data:`CURVE_DEGREES` on ``ms``, and, when AIC's best multi-scale base ``ms_aic`` differs, the class
    model and the curves on it too. Why both bases: the own-age model scaled BIC's base only, so AIC
    compared it with a richer multi-scale model than the one it scaled, and preferred the richer
    one for the kernels, not for the ages. Each is stability-constrained where it explodes, on its
    own family's ladder (the curve keeps its curve and its parameter count)."""
    out = [cls]
    for base in (ms, ms_aic) if ms_aic is not ms else (ms,):
        fits = [] if base is ms else [fit_age_modulated(base.params, ev)]  # type: ignore[arg-type]
        fits += [fit_age_curve(base.params, ev, p) for p in CURVE_DEGREES]  # type: ignore[arg-type]
        for f in fits:
            run = stabilise(f, ev, horizon, seed, refit=fit_curve_stable if f.degree else None)
            name = (f"{base.name} x own age" + (f" curve (degree {f.degree})" if f.degree else "")
                    + (f" (stable: {run.constraint})" if run.constraint else ""))
            out.append((name, run))
    return out


STATE_PARTITIONS = ("spread terciles", "1, 2, 3+ ticks")
"""Spread partitions tried for the state-dependent model; BIC chooses per window."""


def window_states(flow: RecordedFlow, start: float, end: float, active: list[int],
                  partition: str = STATE_PARTITIONS[0]) -> tuple[NDArray[np.int64], int, int]:
    """Spread class in force before each event of the window (as :func:`window_events` keeps them),
    the class after its last event, and the number of classes the window visits (``partition``:
    one of :data:`STATE_PARTITIONS`).

    The class before event ``n`` is the book after the message before it, so it is predictable,
    and it holds over the whole interval since event ``n-1`` only if nothing outside the fitted
    events moved the spread in between (true of the LOBSTER files: every message that moves the
    touch is a fitted event; the report counts the exceptions)."""
    sel = np.flatnonzero((flow.times >= start) & (flow.times < end) & np.isin(flow.dims, active))
    if partition not in STATE_PARTITIONS:
        raise ValueError(f"partition must be one of {STATE_PARTITIONS}")
    spreads = flow.spreads[sel]
    states, cuts = spread_states(spreads) if partition == STATE_PARTITIONS[0] else tick_states(spreads)
    after = np.flatnonzero(flow.times >= end)
    last = flow.spreads[after[0]] if after.size else flow.spreads[sel[-1]]
    tail = int(np.searchsorted(cuts, np.iinfo(np.int64).max // 2 if last < 0 else last, side="right"))
    return compact_states(states, tail)


def windowed_fits(flow: RecordedFlow, window_s: float = 1800.0, *, scales: Sequence[int] = (1, 2, 3, 4),
                  bins: Sequence[int] = (1, 3), progress: Callable[[str], None] | None = None) -> list[WindowFit]:
    """Consecutive windows of ``window_s`` over the recording (the whole recording if it is shorter;
    a final partial window shorter than 1% of ``window_s`` is merged into the one before)."""
    # A recording a hair short of a whole number of windows (LOBSTER's day starts at its first
    # message, a few ms after 9:30) keeps its last window, ending at the horizon.
    n_win = max(1, int(np.ceil(flow.horizon / window_s - 0.01)))
    out = []
    for w in range(n_win):
        end = flow.horizon if w == n_win - 1 else (w + 1) * window_s
        wf, _ = fit_window(flow, w * window_s, end, scales=scales, bins=bins)
        if progress is not None:
            progress(f"{flow.symbol} window {w + 1}/{n_win}: {wf.n_events} events, chosen {wf.chosen}, "
                     f"KS passes {wf.passes('reference')} -> {wf.passes('chosen')} (AIC's choice "
                     f"{wf.passes('aic')}) of {len(wf.dims)}")
        out.append(wf)
    return out
