"""Age-modulated multi-scale Hawkes: recovery (seeded), the h = 1 special case, out-of-sample KS."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale_age import fit_age_modulated, goodness_age
from simulator.hawkes.multiscale_fit import MultiScaleFit, fit_multiscale
from tests.support.modulated_hawkes import simulate_modulated

MU = np.array([0.4, 0.3])
ALPHA = np.array([[0.3, 0.1], [0.2, 0.25]])
DECAY = 5.0
EDGES = (0.3, 2.0)  # age classes: < 0.3 s, 0.3-2 s, >= 2 s (and before the first event)
H = np.array([[0.3, 1.6, 1.0], [2.0, 0.7, 1.0]])  # row 0 refractory, row 1 bursty


def _simulate(h: np.ndarray, n_events: int, seed: int) -> HawkesEvents:
    """Own-age factors ``h`` over the classes of EDGES (tests.support.modulated_hawkes)."""
    return simulate_modulated(MU, ALPHA, DECAY, n_events, seed, age_factors=h, age_edges=EDGES)[0]


def _start(ev: HawkesEvents) -> MultiScaleFit:
    return fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)


def test_recovers_age_factors_baselines_and_weights_within_10_percent() -> None:
    ev = _simulate(H, 60_000, seed=21)
    fit = fit_age_modulated(_start(ev).params, ev, EDGES)
    assert fit.converged
    # each row's factors are normalised to 1 in the class it spends most time in; H to its widest
    widest = fit.factors[:, [2]]
    assert np.max(np.abs(fit.factors / widest - H) / H) < 0.10
    assert np.max(np.abs(fit.base.baseline[:, 0] * widest[:, 0] - MU) / MU) < 0.10
    assert np.max(np.abs(fit.base.alpha[:, :, 0] * widest - ALPHA) / ALPHA) < 0.10
    assert fit.goodness.min_pvalue() > 0.01
    assert fit.bic < _start(ev).bic


def test_unmodulated_data_give_unit_factors_and_the_criterion_refuses_them() -> None:
    ev = _simulate(np.ones((2, 3)), 20_000, seed=22)
    base = _start(ev)
    fit = fit_age_modulated(base.params, ev, EDGES)
    assert np.max(np.abs(fit.factors - 1.0)) < 0.10
    assert fit.loglik >= base.loglik - 1e-6
    assert fit.n_params == base.n_params + 1 + 2 * 2
    assert fit.bic > base.bic


def test_unit_factors_reproduce_the_multiscale_residuals_and_test_out_of_sample() -> None:
    ev = _simulate(H, 8_000, seed=23)
    base = _start(ev)
    rep = goodness_age(base.params, np.ones((2, 3)), np.asarray(EDGES), ev)
    assert [d.ks_statistic for d in rep.dims] == pytest.approx([d.ks_statistic for d in base.goodness.dims],
                                                                rel=1e-6)
    # fitted on the first half, the true model class passes on the second; the plain one fails there
    half = ev.times[len(ev) // 2]
    first = HawkesEvents(ev.times[ev.times < half], ev.dims[ev.times < half], half, 2)
    m = ev.times >= half
    second = HawkesEvents(ev.times[m] - half, ev.dims[m], ev.horizon - half, 2)
    fit = fit_age_modulated(_start(first).params, first, EDGES)
    assert goodness_age(fit.base, fit.factors, fit.age_edges, second).min_pvalue() > 0.01
    plain = goodness_age(_start(first).params, np.ones((2, 3)), np.asarray(EDGES), second)
    assert plain.min_pvalue() < 0.01


def test_age_edges_are_checked() -> None:
    ev = _simulate(np.ones((2, 3)), 500, seed=24)
    with pytest.raises(ValueError, match="increasing"):
        fit_age_modulated(_start(ev).params, ev, (1.0, 0.5))


H_ST = np.array([[1.0, 0.5, 1.8], [1.0, 1.6, 0.6]])


def _simulate_with_states(n_events: int, seed: int) -> tuple[HawkesEvents, np.ndarray, int]:
    """Age factors H times spread-state factors H_ST (tests.support.modulated_hawkes)."""
    return simulate_modulated(MU, ALPHA, DECAY, n_events, seed, age_factors=H, age_edges=EDGES, state_factors=H_ST)


def test_recovers_age_and_spread_state_factors_together_within_10_percent() -> None:
    ev, states, tail = _simulate_with_states(80_000, seed=25)
    fit = fit_age_modulated(_start(ev).params, ev, EDGES, states=states, tail_state=tail, n_states=3)
    assert fit.converged
    age = fit.factors / fit.factors[:, [2]]
    st = fit.state_factors / fit.state_factors[:, [0]]
    assert np.max(np.abs(age - H) / H) < 0.10
    assert np.max(np.abs(st - H_ST) / H_ST) < 0.10
    assert fit.goodness.min_pvalue() > 0.01
    age_only = fit_age_modulated(_start(ev).params, ev, EDGES)
    assert fit.bic < age_only.bic and fit.n_params == age_only.n_params + 2 * 2


def test_one_state_is_the_age_model() -> None:
    ev = _simulate(H, 5_000, seed=26)
    plain = fit_age_modulated(_start(ev).params, ev, EDGES)
    one = fit_age_modulated(_start(ev).params, ev, EDGES, states=np.zeros(len(ev), np.int64), tail_state=0,
                            n_states=1)
    assert one.loglik == pytest.approx(plain.loglik, rel=1e-9)
    assert one.n_params == plain.n_params


def test_a_dimension_without_events_is_reported_not_a_crash() -> None:
    """A window where one dimension never fires (a quiet side of the book) used to raise a shape
    error in the age grid; its KS is undefined (nan) and the other dimension is tested as before."""
    ev = _simulate(H, 4_000, seed=24)
    base = _start(ev)
    only0 = HawkesEvents(ev.times[ev.dims == 0], ev.dims[ev.dims == 0], ev.horizon, 2)
    rep = goodness_age(base.params, np.ones((2, 3)), np.asarray(EDGES), only0)
    assert rep.dims[1].n_events == 0 and np.isnan(rep.dims[1].ks_pvalue)
    assert rep.dims[0].n_events == int(np.sum(ev.dims == 0)) and 0.0 <= rep.dims[0].ks_pvalue <= 1.0
    assert rep.dims[1].model_rate > 0  # the baseline still runs where no event happened
