"""The state- and age-modulated models' part of ``docs/validation.md``: pass counts, how often the
criterion prefers them, their factors, and the split-half (out-of-sample) KS test, as the fields
the document's text is filled with. Kept apart from :mod:`simulator.validation_report` so each
stays small; the readings are worded from the numbers, so the text cannot contradict them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import NDArray

from simulator import validation_windows as vw
from simulator.calibration.flow import RecordedFlow
from simulator.calibration.windows import WindowFit, window_events, window_states
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams, simulate_multiscale
from simulator.hawkes.multiscale_age import AGE_EDGES, goodness_age
from simulator.hawkes.multiscale_age_sim import AgeFactors, draw_until, simulate_age
from simulator.market.types import DIM_NAMES, N_DIMS
from simulator.validation_diagnostics import split_half_ks


def _states(flow: RecordedFlow, w: WindowFit) -> tuple[NDArray[np.int64], int, int]:
    """The spread states the window fit used (its BIC-chosen partition), for the split-half test."""
    return window_states(flow, w.start_s, w.end_s, window_events(flow, w.start_s, w.end_s)[1], w.state_partition)


def _rungs(every: list[WindowFit]) -> str:
    """How many windows each rung of the stability ladder settled, e.g. 'ages < 1 ms: 4; all ages: 1'."""
    c = Counter(w.age_constraint for w in every if w.age_constraint)
    return "; ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])) or "none"


def _ms_aic(w: WindowFit) -> float:
    """AIC of the multi-scale candidate the own-age model scales (from its BIC: same data, same count)."""
    _, n_par, ll, _ = next(c for c in w.candidates if c[0] == w.state_base)
    return 2.0 * n_par - 2.0 * ll


def _penalty_fields(every: list[WindowFit]) -> dict[str, object]:
    """What the information criteria weigh against the class model, window by window: its gain in
    log-likelihood over the multi-scale model it scales, BIC's penalty for its D x 7 factors (in
    log-likelihood units, half of BIC), how often AIC's best multi-scale base is not BIC's, and the
    runnable curve BIC prefers on BIC's base: the share of the class model's gain it keeps and how
    often BIC prefers it to the model it scales."""
    gain, pen, keep, curve_pref, differs = [], [], [], 0, 0
    n_extra = len(AGE_EDGES)
    for w in every:
        _, k_base, ll_base, _ = next(c for c in w.candidates if c[0] == w.state_base)
        ln = float(np.log(w.n_events))
        k_age = k_base + n_extra * len(w.dims)
        ll_age = (k_age * ln - w.age_bic) / 2.0
        gain.append(ll_age - ll_base)
        pen.append(n_extra * len(w.dims) * ln / 2.0)
        ms = [c for c in w.candidates if not c[0].startswith("exp per pair")]
        differs += min(ms, key=lambda c: 2 * c[1] - 2 * c[2])[0] != w.state_base
        curves = [v for v in w.age_variants if v[0].startswith(f"{w.state_base} x own age curve")]
        if curves:
            best = min(curves, key=lambda v: v[3])
            keep.append((best[2] - ll_base) / (ll_age - ll_base) if ll_age > ll_base else float("nan"))
            curve_pref += best[3] < w.state_base_bic
    return {"cls_gain_lo": min(gain, default=float("nan")), "cls_gain_hi": max(gain, default=float("nan")),
            "cls_gain_med": float(np.median(gain)) if gain else float("nan"),
            "cls_pen_lo": min(pen, default=float("nan")), "cls_pen_hi": max(pen, default=float("nan")),
            "aic_base_differs": differs, "curve_pref": curve_pref,
            "curve_keep": float(np.nanmedian(keep)) if keep else float("nan")}


def modulated_fields(windows: dict[str, list[WindowFit]], amzn_flow: RecordedFlow,
                     amzn_wins: list[WindowFit]) -> dict[str, object]:
    n_dims = sum(len(w.dims) for ws in windows.values() for w in ws)
    n = {k: sum(vw.count(ws, k) for ws in windows.values()) for k in ("all", "all_aic", "age", "both")}
    every = [w for ws in windows.values() for w in ws]
    split = [split_half_ks(window_events(amzn_flow, w.start_s, w.end_s)[0], 3, *_states(amzn_flow, w))
             for w in amzn_wins]
    done = [s for s in split if s]
    tot = {k: (sum(s[k][0] for s in done), sum(s[k][1] for s in done)) for k in done[0]} if done else {}
    young_old = [f[0] / f[-1] for w in amzn_wins for f in w.age_factors if f[-1] > 0]
    yo = float(np.median(young_old)) if young_old else float("nan")
    ms_out, age_out = tot["multi-scale"][1], tot["x own age"][1]
    losing = all(o < i / 2 for i, o in tot.values())
    keeps = age_out - ms_out
    n_run = {k: sum(vw.count(ws, k) for ws in windows.values()) for k in ("run", "run_aic")}
    age_name = [w for w in every if "x own age" in w.run_aic_chosen]
    # the constraint adds and removes no parameter, so the BIC difference is twice the log-likelihood lost
    cons_ll = [(w.run_age_bic - w.age_bic) / 2 for w in every if w.age_constraint]
    out: dict[str, object] = {
        "n_run": n_run["run"], "pct_run": 100 * n_run["run"] / n_dims, "n_run_aic": n_run["run_aic"],
        "pct_run_aic": 100 * n_run["run_aic"] / n_dims,
        "run_age_bic": sum("x own age" in w.run_chosen for w in every), "run_age_aic": len(age_name),
        "age_unstable": sum(not w.age_stable for w in every),
        "n_run_age": sum(vw.count(ws, "run_age") for ws in windows.values()),
        "n_cls_run": sum(vw.count(ws, "cls_run") for ws in windows.values()),
        "n_cls_run_aic": sum(vw.count(ws, "cls_run_aic") for ws in windows.values()),
        "pct_cls_run": 100 * sum(vw.count(ws, "cls_run") for ws in windows.values()) / n_dims,
        "pct_cls_run_aic": 100 * sum(vw.count(ws, "cls_run_aic") for ws in windows.values()) / n_dims,
        "run_curve_bic": sum("own age curve" in w.run_chosen for w in every),
        "run_curve_aic": sum("own age curve" in w.run_aic_chosen for w in every),
        "run_aicbase_aic": sum("x own age" in w.run_aic_chosen
                               and not w.run_aic_chosen.startswith(f"{w.state_base} x own age") for w in every),
        "age_choice_curve": sum("own age curve" in w.age_choice for w in every),
        "pct_run_age": 100 * sum(vw.count(ws, "run_age") for ws in windows.values()) / n_dims,
        "cons_rungs": _rungs(every),
        "cons_ll_lo": min(cons_ll) if cons_ll else float("nan"),
        "cons_ll_hi": max(cons_ll) if cons_ll else float("nan"),
        "cons_bic_pref": sum(w.run_age_bic < w.state_base_bic for w in every if w.age_constraint),
        "cons_aic_pref": sum(w.run_age_aic < _ms_aic(w) for w in every if w.age_constraint),
        "cons_pass_raw": sum(w.passes("age") for w in every if w.age_constraint),
        "cons_pass": sum(w.passes("run_age") for w in every if w.age_constraint),
        "cons_dims": sum(len(w.dims) for w in every if w.age_constraint),
        "age_provable": sum(w.age_bound < 1.0 for w in every),
        "n_all": n["all"], "pct_all": 100 * n["all"] / n_dims, "n_all_aic": n["all_aic"],
        "pct_all_aic": 100 * n["all_aic"] / n_dims, "n_age": n["age"], "pct_age": 100 * n["age"] / n_dims,
        "n_both": n["both"], "pct_both": 100 * n["both"] / n_dims,
        "age_pref": sum(w.age_bic < w.state_base_bic for w in every),
        "both_pref": sum(w.both_bic < w.state_bic for w in every),
        "young_old": yo,
        "age_reading": ("events of a type come in runs the exponential kernels do not hold, and long silences are "
                        "quieter than the model expects" if yo > 1 else
                        "events of a type are held back right after one another (refractory), which no "
                        "self-exciting kernel can express"),
        "split_reading": (("Every model loses most of its passes a quarter of an hour later" if losing else
                           "Out of sample the models lose passes")
                          + (", and the age factors keep none of their extra passes: the in-sample KS test "
                             "flatters models whose parameters shape the intervals it tests." if keeps <= 0 else
                             f"; the age factors keep {keeps} passes more than the model they scale.")),
        "split_short": ("their in-sample gain is the test's optimism about parameters fitted to the very intervals "
                        "it tests, not a better model" if keeps <= 0 else
                        f"out of sample they keep {keeps} passes more than the model they scale"),
        "split_lower_reading": ("every model passes fewer dimensions on the second half than on the first it "
                                "was fitted on" if all(o < i for i, o in tot.values()) else
                                "some model passes as many dimensions on the second half as on the first"),
        "split_dims": sum(len(w.dims) for w, s in zip(amzn_wins, split, strict=True) if s),
        "split_windows": len(done),
    }
    out |= _penalty_fields(every)
    for k, (i, o) in tot.items():
        key = k.replace(" ", "_").replace("-", "_")
        out[f"split_{key}_in"], out[f"split_{key}_out"] = i, o
    return out


def _drawn(w: WindowFit) -> tuple[MultiScaleParams, NDArray[np.float64]] | None:
    """The own-age model a window's paths are drawn from: the runnable variant BIC prefers among the
    own-age variants (a curve or the class model), else the class model."""
    return w.age_choice_model if w.age_choice_model is not None else w.age_model


def simulated_windows(windows: dict[str, list[WindowFit]], seed: int) -> dict[str, object]:
    """Each window's own-age model (:func:`_drawn`) simulated over the window from an empty history
    (the sampler the market engine uses), and the simulated path tested against the model it was
    drawn from: that the model runs, how many events it makes against the data, and that the
    sampler's path has the rates the fitted compensator says (KS passes near 95% expected)."""
    ss = np.random.SeedSequence(seed)
    every = [w for ws in windows.values() for w in ws if _drawn(w) is not None]
    ratios, passes, dims, failed = [], 0, 0, 0
    for w, child in zip(every, ss.spawn(len(every)), strict=True):
        base, factors = _drawn(w)  # type: ignore[misc]
        age = AgeFactors(factors, np.asarray(AGE_EDGES))
        try:
            ev = simulate_age(base, age, w.end_s - w.start_s, np.random.Generator(np.random.PCG64(child)),
                              max_events=50 * w.n_events)
        except RuntimeError:
            failed += 1
            continue
        ratios.append(len(ev) / w.n_events)
        rep = goodness_age(base, factors, age.edges, ev)
        passes += sum(d.ks_pvalue > vw.LEVEL for d in rep.dims)
        dims += len(rep.dims)
    # how the unconstrained fits that fail check_stability explode: one path each, as that check draws them
    bursts = []
    for w, child in zip(every, ss.spawn(len(every)), strict=True):  # the class model's unconstrained fits
        if w.age_stable or w.age_raw_model is None:
            continue
        base, factors = w.age_raw_model
        if base.spectral_radius() >= 1.0:
            continue
        horizon = 4 * (w.end_s - w.start_s)  # and the cap of check_stability
        t, d, hit = draw_until(base, AgeFactors(factors, np.asarray(AGE_EDGES)), horizon,
                               np.random.Generator(np.random.PCG64(child)),
                               int(50.0 * horizon * float(np.sum(base.mean_intensity()))) + 1000)
        if hit and t.size > 1000:
            tail = t[-1000:]
            bursts.append((float(np.median(np.diff(tail))), float(tail[-1] - tail[0]),
                           float(np.mean(np.bincount(d[-1000:], minlength=base.dim) > 0))))
    return {"burst_n": len(bursts),
            "burst_gap_us": 1e6 * float(np.median([b[0] for b in bursts])) if bursts else float("nan"),
            "burst_span_ms": 1e3 * float(np.median([b[1] for b in bursts])) if bursts else float("nan"),
            "burst_dims_share": float(np.median([b[2] for b in bursts])) if bursts else float("nan"),
            "sim_windows": len(every), "sim_failed": failed, "sim_pass": passes, "sim_dims": dims,
            "sim_ratio_lo": min(ratios) if ratios else float("nan"),
            "sim_ratio_med": float(np.median(ratios)) if ratios else float("nan"),
            "sim_ratio_hi": max(ratios) if ratios else float("nan")}


def windowed_flow(wins: list[WindowFit], horizon: float, seed: int) -> tuple[HawkesEvents, int]:
    """A day's flow drawn window by window, each from its own runnable own-age model (the
    stability-constrained one where the unconstrained one explodes; the multi-scale model it scales
    where there is none), on the ten market dimensions: what a consumer that recalibrates every
    window would simulate. Returns it and the number of windows drawn from an own-age model."""
    times, dims, n_age = [], [], 0
    for w, child in zip(wins, np.random.SeedSequence(seed).spawn(len(wins)), strict=True):
        gen = np.random.Generator(np.random.PCG64(child))
        idx = np.array([DIM_NAMES.index(n) for n in w.dims], np.int64)
        drawn = _drawn(w)
        if drawn is not None:
            base, factors = drawn
            ev = simulate_age(base, AgeFactors(factors, np.asarray(AGE_EDGES)), w.end_s - w.start_s, gen)
            n_age += 1
        elif w.ms_model is not None:
            ev = simulate_multiscale(w.ms_model, w.end_s - w.start_s, gen)
        else:
            raise ValueError("window fit without a model to simulate")
        times.append(ev.times + w.start_s)
        dims.append(idx[ev.dims])
    return HawkesEvents(np.concatenate(times), np.concatenate(dims), horizon, N_DIMS), n_age
