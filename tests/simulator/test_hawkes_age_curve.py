"""Own-age factors on a curve in log age (simulator.hawkes.multiscale_age_curve and its constrained
fit): drawn by the market's own-age sampler and recovered within 10%; the curve's parameter count is
what makes the criterion prefer it to the class model when the truth is smooth; the constrained fit
stays on the curve, meets its bound and keeps the count."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AgeModulatedFit, fit_age_modulated
from simulator.hawkes.multiscale_age_curve import age_design, class_log_ages, fit_age_curve, poisson_curve
from simulator.hawkes.multiscale_age_curve_stable import _CurveRows, fit_curve_stable
from simulator.hawkes.multiscale_age_sim import AgeFactors, check_stability, simulate_age
from simulator.hawkes.multiscale_age_stable import age_bound, stabilise
from simulator.hawkes.multiscale_fit import MultiScaleFit, fit_multiscale

MU = np.array([0.4, 0.3])
ALPHA = np.array([[0.3, 0.1], [0.2, 0.25]])
DECAY = 5.0
EDGES = np.array([0.1, 0.3, 1.0, 3.0])  # five classes
COEF = np.array([[0.5, -0.5], [-0.4, 0.1]])  # row 0: refractory young, a bump between; row 1: bursty young
HORIZON = 60_000.0


def _truth() -> tuple[MultiScaleParams, np.ndarray]:
    """The model and its factors (normalised to 1 in the oldest class, as the sampler gets them)."""
    f = np.exp(COEF @ age_design(EDGES, 2).T)
    f = f / f[:, [-1]]
    return MultiScaleParams(MU[:, None], np.array([0.0, HORIZON]), ALPHA[:, :, None], np.array([DECAY])), f


@pytest.fixture(scope="module")
def drawn() -> tuple[HawkesEvents, MultiScaleFit]:
    p, f = _truth()
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(31)))
    ev = simulate_age(p, AgeFactors(f, EDGES), HORIZON, gen)
    return ev, fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)


def test_design_is_legendre_in_log_age_without_a_constant() -> None:
    x = class_log_ages(EDGES)
    assert x[0] < np.log10(EDGES[0]) < x[1] and x[-1] > np.log10(EDGES[-1])
    d = age_design(EDGES, 3)
    assert d.shape == (5, 3) and d[0, 0] == pytest.approx(-1.0) and d[-1, 0] == pytest.approx(1.0)
    assert np.linalg.matrix_rank(np.column_stack([np.ones(5), d])) == 4
    with pytest.raises(ValueError):
        age_design(EDGES, 5)  # five classes hold at most a constant and four slopes


def test_poisson_curve_solves_the_class_problem_exactly() -> None:
    x = age_design(EDGES, 2)
    c = np.array([3.0, 5.0, 10.0, 20.0, 40.0])
    n = 2.5 * c * np.exp(x @ np.array([0.4, -0.2]))  # counts exactly on a curve
    scale, b = poisson_curve(n, c, x)
    assert b == pytest.approx([0.4, -0.2], abs=1e-8) and np.exp(scale) == pytest.approx(2.5, rel=1e-8)
    # a class without time has no say: it changes nothing
    _, b2 = poisson_curve(np.r_[n[:4], 7.0], np.r_[c[:4], 0.0], x)
    assert b2 == pytest.approx(b, abs=1e-6)


def test_the_curve_drawn_by_the_market_sampler_is_recovered_within_10_percent(drawn) -> None:
    ev, start = drawn
    fit = fit_age_curve(start.params, ev, 2, tuple(EDGES))
    _, f = _truth()
    assert fit.converged and fit.degree == 2
    old = fit.factors[:, [-1]]  # the fit normalises to the most visited class; the truth to the oldest
    assert np.max(np.abs(fit.factors / old - f) / f) < 0.10
    assert np.max(np.abs(fit.base.baseline[:, 0] * old[:, 0] - MU) / MU) < 0.10
    assert np.max(np.abs(fit.base.alpha[:, :, 0] * old - ALPHA) / ALPHA) < 0.10
    assert fit.goodness.min_pvalue() > 0.01
    # the count: a curve's coefficients per row, not a factor per class
    assert fit.n_params == start.n_params + 1 + 2 * 2


def test_on_a_smooth_truth_bic_prefers_the_curve_to_the_class_model_and_both_to_none(drawn) -> None:
    ev, start = drawn
    curve = fit_age_curve(start.params, ev, 2, tuple(EDGES))
    classes = fit_age_modulated(start.params, ev, tuple(EDGES))
    # the class model nests the curve: more likelihood, but not enough for its extra parameters
    assert classes.loglik >= curve.loglik - 1e-6
    assert classes.n_params - curve.n_params == 2 * (4 - 2)
    assert curve.bic < classes.bic < start.bic
    # a curve of lower degree than the truth loses likelihood BIC does not forgive
    assert fit_age_curve(start.params, ev, 1, tuple(EDGES)).bic > curve.bic


def _hot(fit: AgeModulatedFit) -> AgeModulatedFit:
    """``fit`` with row 1's curve steepened so its young factors explode the fast self-excitation."""
    x = age_design(fit.age_edges, fit.degree)
    logf = np.log(fit.factors)
    logf[1] = logf[1] + x @ np.array([-1.5, 0.0])  # row 1's factors rise ~20x towards young ages
    return dataclasses.replace(fit, factors=np.exp(logf - logf[:, [-1]]))


def test_the_constrained_curve_meets_its_bound_stays_a_curve_and_keeps_its_count(drawn) -> None:
    ev, start = drawn
    fit = fit_age_curve(start.params, ev, 2, tuple(EDGES))
    hot = _hot(fit)
    assert age_bound(hot.base, hot.factors) > 1.0
    c = fit_curve_stable(hot, ev)  # every class bounded: the sufficient condition
    assert age_bound(c.base, c.factors) <= 0.95 + 1e-9
    assert c.n_params == fit.n_params and c.degree == 2
    # still on the curve: log factors minus a row constant lie in the design's span
    xc = np.column_stack([np.ones(5), age_design(EDGES, 2)])
    resid = np.log(c.factors).T - xc @ np.linalg.lstsq(xc, np.log(c.factors).T, rcond=None)[0]
    assert np.max(np.abs(resid)) < 1e-9
    # its likelihood is the model's (recomputed independently) and below the unconstrained optimum
    rows = _CurveRows(c.base, ev, c.age_edges, age_design(EDGES, 2))
    b = np.linalg.lstsq(xc, np.log(c.factors).T, rcond=None)[0][1:].T
    shift = np.exp(np.log(c.factors) - b @ age_design(EDGES, 2).T)[:, [0]]
    x = np.concatenate([np.concatenate([c.base.baseline[i] * shift[i], c.base.alpha[i].ravel() * shift[i], b[i]])
                        for i in range(2)])
    assert rows.loglik(x)[0] == pytest.approx(c.loglik, rel=1e-8)
    assert c.loglik <= fit.loglik + 1e-6 * abs(fit.loglik)  # the alternating fit stops at a relative 1e-7 a round
    # the truth satisfies the bound, so constraining the true-form fit costs little
    assert fit.loglik - c.loglik < 0.01 * abs(fit.loglik)
    assert check_stability(c.base, AgeFactors(c.factors, c.age_edges), 2000.0, seed=3).stable


def test_stabilise_takes_the_curve_family_ladder_and_refuses_the_class_one(drawn) -> None:
    ev, start = drawn
    hot = _hot(fit_age_curve(start.params, ev, 2, tuple(EDGES)))
    with pytest.raises(ValueError, match="refit=fit_curve_stable"):
        stabilise(hot, ev, 2000.0, 3)
    run = stabilise(hot, ev, 2000.0, 3, refit=fit_curve_stable)
    assert run.constraint and run.fit.degree == 2 and run.stability.stable


def test_calibrate_picks_the_variant_the_criterion_prefers_among_all_of_them_made_runnable(drawn) -> None:
    from simulator.calibration.calibrate import _own_age_choice
    from simulator.hawkes.multiscale_age_curve import CURVE_DEGREES
    from simulator.hawkes.multiscale_fit import Candidate

    ev, start = drawn
    ms = Candidate("1 scale, 1 baseline bin", 1, 1, start.loglik, start.n_params, start.aic, start.bic,
                   start.goodness, start.params)
    said: list[str] = []
    fit, name, kept = _own_age_choice(ms, ev, ms, "bic", 3600.0, said.append)
    every = [fit_age_modulated(start.params, ev)] + [fit_age_curve(start.params, ev, p) for p in CURVE_DEGREES]
    runnable = [stabilise(f, ev, 3600.0, 0, refit=fit_curve_stable if f.degree else None).fit for f in every]
    best = min(runnable, key=lambda f: f.bic)
    assert kept and fit.bic == pytest.approx(best.bic, rel=1e-12) and fit.degree == best.degree
    assert name == "1 scale, 1 baseline bin x own age" + (f" curve (degree {best.degree})" if best.degree else "")
    assert sum("BIC" in s for s in said) == 4  # every variant's score is reported
    # a candidate no variant beats keeps the model as it was
    far = Candidate("far", 1, 1, 0.0, 1, -1e12, -1e12, start.goodness, start.params)
    assert not _own_age_choice(ms, ev, far, "bic", 3600.0, said.append)[2]
