"""The own-age sampler (simulator.hawkes.multiscale_age_sim): recovery by the age fit, determinism,
rates that match the model's compensator, the plain multi-scale law when every factor is 1, and the
same law as the first sampler (simulator.hawkes.multiscale_age_ref) it replaced in session 9."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.hawkes.multiscale import MultiScaleParams, simulate_multiscale
from simulator.hawkes.multiscale_age import fit_age_modulated, goodness_age
from simulator.hawkes.multiscale_age_ref import simulate_age_piecewise
from simulator.hawkes.multiscale_age_sim import AgeFactors, check_stability, mean_rates, simulate_age
from simulator.hawkes.multiscale_fit import fit_multiscale

MU = np.array([0.4, 0.3])
ALPHA = np.array([[0.3, 0.1], [0.2, 0.25]])
DECAY = 5.0
EDGES = (0.3, 2.0)
H = np.array([[0.3, 1.6, 1.0], [2.0, 0.7, 1.0]])  # row 0 refractory, row 1 bursty


def _gen(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def _one_scale(horizon: float) -> MultiScaleParams:
    return MultiScaleParams(MU[:, None], np.array([0.0, horizon]), ALPHA[:, :, None], np.array([DECAY]))


def _rich() -> MultiScaleParams:
    """Three dimensions, two scales, three baseline bins over a 600 s profile."""
    base = np.array([[0.5, 0.2, 0.9], [0.3, 0.6, 0.3], [0.2, 0.2, 0.4]])
    alpha = np.zeros((3, 3, 2))
    alpha[:, :, 0] = [[0.2, 0.05, 0.0], [0.1, 0.15, 0.05], [0.0, 0.1, 0.2]]
    alpha[:, :, 1] = [[0.1, 0.0, 0.05], [0.0, 0.1, 0.0], [0.05, 0.05, 0.1]]
    return MultiScaleParams(base, np.array([0.0, 200.0, 350.0, 600.0]), alpha, np.array([30.0, 1.5]))


def _fast() -> MultiScaleParams:
    """Like the AMZN calibration's flow where the sampler is most delicate: a scale of 5 us (the
    AMZN fit has ~1 us), one of 3 ms and one of 0.5 s, three baseline bins over 600 s."""
    base = np.array([[0.5, 0.2, 0.9], [0.3, 0.6, 0.3], [0.2, 0.2, 0.4]])
    alpha = np.zeros((3, 3, 3))
    alpha[:, :, 0] = [[0.06, 0.0, 0.03], [0.09, 0.06, 0.0], [0.0, 0.03, 0.06]]
    alpha[:, :, 1] = [[0.06, 0.03, 0.0], [0.03, 0.06, 0.03], [0.0, 0.06, 0.09]]
    alpha[:, :, 2] = [[0.06, 0.0, 0.03], [0.0, 0.06, 0.0], [0.03, 0.03, 0.06]]
    return MultiScaleParams(base, np.array([0.0, 200.0, 350.0, 600.0]), alpha, np.array([2e5, 300.0, 2.0]))


# a refractory, a bursty (x4 in the first millisecond, so the 5 us scale matters) and a mixed row;
# spectral bound 0.93 < 1, so no path can explode
FAST_AGE = AgeFactors(np.array([[0.3, 0.5, 1.8, 1.2, 1.0], [4.0, 1.5, 0.8, 1.3, 1.0], [1.0, 2.5, 0.6, 1.5, 1.0]]),
                      np.array([1e-3, 0.05, 0.5, 3.0]))

RICH_AGE = AgeFactors(np.array([[0.2, 0.6, 1.8, 1.0], [3.0, 1.2, 0.8, 1.0], [1.0, 0.5, 1.5, 1.0]]),
                      np.array([0.05, 0.5, 3.0]))


def test_the_age_fit_recovers_what_the_sampler_drew_within_10_percent() -> None:
    horizon = 40_000.0
    ev = simulate_age(_one_scale(horizon), AgeFactors(H, np.array(EDGES)), horizon, _gen(21))
    assert len(ev) > 55_000
    start = fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)
    fit = fit_age_modulated(start.params, ev, EDGES)
    assert fit.converged
    widest = fit.factors[:, [2]]  # the fit puts 1 in each row's most visited class, H in the oldest
    assert np.max(np.abs(fit.factors / widest - H) / H) < 0.10
    assert np.max(np.abs(fit.base.baseline[:, 0] * widest[:, 0] - MU) / MU) < 0.10
    assert np.max(np.abs(fit.base.alpha[:, :, 0] * widest - ALPHA) / ALPHA) < 0.10
    assert fit.bic < start.bic


def test_same_seed_same_events_and_another_seed_other_events() -> None:
    p = _rich()
    a = simulate_age(p, RICH_AGE, 600.0, _gen(5))
    b = simulate_age(p, RICH_AGE, 600.0, _gen(5))
    c = simulate_age(p, RICH_AGE, 600.0, _gen(6))
    assert np.array_equal(a.times, b.times) and np.array_equal(a.dims, b.dims)
    assert not (len(a) == len(c) and np.array_equal(a.times, c.times))
    assert np.all(np.diff(a.times) > 0) and a.times[-1] < 600.0


@pytest.mark.parametrize(("model", "age", "least"), [(_rich, RICH_AGE, 15_000), (_fast, FAST_AGE, 15_000)])
def test_simulated_path_passes_the_time_rescaling_test_under_its_own_model(model, age, least) -> None:
    """The events' residuals under the model's compensator (integrated over every age crossing by
    the fit's code, not the sampler's) are Exp(1): the sampler draws the rates the model says, and
    the compensator's mean per event is 1 (each dimension's count is what its intensity integrates to)."""
    p = model()
    ev = simulate_age(p, age, 6000.0, _gen(7))  # ten periods of the profile
    p10 = MultiScaleParams(p.baseline, p.edges, p.alpha, p.decays)
    assert len(ev) > least
    rep = goodness_age(p10, age.factors, age.edges, ev)
    assert rep.min_pvalue() > 0.01
    for dim in rep.dims:  # ~5,000 events a dimension: the mean's standard error is ~0.014
        assert dim.residual_mean == pytest.approx(1.0, abs=0.05)
    # the test has power here: the same path under the unmodulated model is rejected
    plain = goodness_age(p10, np.ones_like(age.factors), age.edges, ev)
    assert plain.min_pvalue() < 1e-6


def test_same_law_as_the_first_sampler() -> None:
    """The per-component sampler against the first (piecewise-bound) one, 400 seeded paths each
    (disjoint seeds): per dimension the counts and the share of own intervals under each age edge,
    and the counts in each stretch of the profile, two-sample KS. Both are exact samplers of the
    model, built differently (one bound refreshed at every age crossing vs one per kernel
    component with suffix-maximum factors), so they must agree in law, not in draws."""
    p = _fast()
    new = [simulate_age(p, FAST_AGE, 300.0, _gen(s), start=100.0) for s in range(400)]
    ref = [simulate_age_piecewise(p, FAST_AGE.factors, FAST_AGE.edges, 300.0, _gen(10_000 + s), start=100.0)
           for s in range(400)]
    assert not any(len(a) == len(b) and np.array_equal(a.times, b.times) for a, b in zip(new, ref, strict=True))

    def share(e: object, i: int, below: float) -> float:
        gaps = np.diff(e.times[e.dims == i])  # type: ignore[attr-defined]
        return float(np.mean(gaps < below)) if gaps.size else 0.0

    for i in range(3):
        a = [int(np.sum(e.dims == i)) for e in new]
        b = [int(np.sum(e.dims == i)) for e in ref]
        assert stats.ks_2samp(a, b).pvalue > 0.01
        assert np.mean(a) == pytest.approx(np.mean(b), rel=0.05)
        for below in (1e-3, 0.05, 0.5):
            assert stats.ks_2samp([share(e, i, below) for e in new], [share(e, i, below) for e in ref]).pvalue > 0.01
    for lo, hi in ((0.0, 100.0), (100.0, 250.0), (250.0, 300.0)):  # profile 100-200, 200-350, 350-400
        a = [int(np.sum((e.times >= lo) & (e.times < hi))) for e in new]
        b = [int(np.sum((e.times >= lo) & (e.times < hi))) for e in ref]
        assert stats.ks_2samp(a, b).pvalue > 0.01


@pytest.mark.parametrize("model", [_rich, _fast])
def test_unit_factors_draw_the_plain_multiscale_law(model) -> None:
    p = model()
    ones = AgeFactors.ones(3, RICH_AGE.edges)
    age = [simulate_age(p, ones, 900.0, _gen(s), start=100.0) for s in range(300)]
    plain = [simulate_multiscale(p, 900.0, _gen(10_000 + s), start=100.0) for s in range(300)]
    for i in range(3):
        a = [int(np.sum(e.dims == i)) for e in age]
        b = [int(np.sum(e.dims == i)) for e in plain]
        assert stats.ks_2samp(a, b).pvalue > 0.01
    # where in the (shifted) profile the events fall (the bins' rates are read from ``start``: path
    # time 100 is profile time 200, a bin edge) and how a dimension's own intervals look, one number
    # per path so the samples are independent (pooled event times are not: events cluster)
    for lo, hi in ((0.0, 100.0), (100.0, 250.0), (250.0, 500.0), (500.0, 900.0)):
        a = [int(np.sum((e.times >= lo) & (e.times < hi))) for e in age]
        b = [int(np.sum((e.times >= lo) & (e.times < hi))) for e in plain]
        assert stats.ks_2samp(a, b).pvalue > 0.01

    def short_share(e: object) -> float:
        gaps = np.diff(e.times[e.dims == 0])  # type: ignore[attr-defined]
        return float(np.mean(gaps < 0.1)) if gaps.size else 0.0

    assert stats.ks_2samp([short_share(e) for e in age], [short_share(e) for e in plain]).pvalue > 0.01


def test_factors_change_the_intervals_the_way_they_say() -> None:
    """A refractory factor (0.2 under 50 ms) leaves fewer short own intervals than factor 1 does."""
    p = _rich()
    ev = simulate_age(p, RICH_AGE, 6000.0, _gen(8))
    flat = simulate_age(p, AgeFactors.ones(3, RICH_AGE.edges), 6000.0, _gen(8))

    def short(e: object, i: int) -> float:
        gaps = np.diff(e.times[e.dims == i])  # type: ignore[attr-defined]
        return float(np.mean(gaps < 0.05))

    assert short(ev, 0) < 0.5 * short(flat, 0)
    assert short(ev, 1) > 1.5 * short(flat, 1)  # factor 3 under 50 ms: bursts


def test_mean_rates_are_seeded_and_near_the_plain_rate_with_unit_factors() -> None:
    p = _rich()
    r1 = mean_rates(p, AgeFactors.ones(3, RICH_AGE.edges), seconds=60_000.0)
    assert np.array_equal(r1, mean_rates(p, AgeFactors.ones(3, RICH_AGE.edges), seconds=60_000.0))
    assert r1 == pytest.approx(p.mean_intensity(), rel=0.05)


def test_bad_factors_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        AgeFactors(np.ones((2, 3)), np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="must be"):
        AgeFactors(np.ones((2, 2)), np.array([0.1, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        AgeFactors(-np.ones((2, 3)), np.array([0.1, 1.0]))
    with pytest.raises(ValueError, match="dimensions"):
        simulate_age(_rich(), AgeFactors.ones(2, (0.1,)), 10.0, _gen(1))
    back = AgeFactors.from_dict(RICH_AGE.to_dict())
    assert np.array_equal(back.factors, RICH_AGE.factors) and np.array_equal(back.edges, RICH_AGE.edges)


def test_stability_bound_paths_and_a_nonstationary_base() -> None:
    p = _rich()
    calm = check_stability(p, RICH_AGE, 600.0, seed=1)
    assert calm.stable and calm.bound == pytest.approx(
        float(np.max(np.abs(np.linalg.eigvals(RICH_AGE.factors.max(axis=1)[:, None] * p.branching())))))
    # a factor of 30 for the first 50 ms on self-exciting rows: the bound is far above 1, paths explode
    hot = RICH_AGE.factors.copy()
    hot[:, 0] = 30.0
    boom = check_stability(p, AgeFactors(hot, RICH_AGE.edges), 600.0, seed=1)
    assert boom.bound > 1.0 and not boom.stable and boom.paths_ok == 0
    steep = MultiScaleParams(p.baseline, p.edges, p.alpha * 2.5, p.decays)
    assert not check_stability(steep, RICH_AGE, 600.0, seed=1).stable


def test_models_with_far_larger_old_factors_take_the_piecewise_sampler() -> None:
    """The per-component bound is the suffix maximum of a dimension's factors; with an oldest class
    1,000 x the young ones it rejects nearly every proposal (300x slower measured), so such models
    are drawn by the piecewise sampler: bit for bit its path. Models within the ratio keep the
    per-component sampler, whose draws differ."""
    from simulator.hawkes.multiscale import MultiScaleParams
    from simulator.hawkes.multiscale_age_ref import simulate_age_piecewise
    from simulator.hawkes.multiscale_age_sim import MAX_SUP_RATIO, AgeFactors, simulate_age_arrays, sup_ratio

    params = MultiScaleParams(baseline=np.array([[0.4], [0.3]]), edges=np.array([0.0, 1.0]),
                              alpha=np.array([[[0.3], [0.1]], [[0.2], [0.25]]]), decays=np.array([5.0]))
    edges = np.array([0.3, 2.0])
    for old, piecewise in ((1.0, False), (1_000.0, True)):
        factors = np.array([[0.3, 0.5, old], [0.5, 0.3, old]])
        assert (sup_ratio(AgeFactors(factors, edges)) > MAX_SUP_RATIO) == piecewise
        t, d = simulate_age_arrays(params, AgeFactors(factors, edges), 2_000.0, np.random.default_rng(5))
        ref = simulate_age_piecewise(params, factors, edges, 2_000.0, np.random.default_rng(5))
        same = t.size == ref.times.size and bool(np.array_equal(t, ref.times)) and bool(np.array_equal(d, ref.dims))
        assert same == piecewise
