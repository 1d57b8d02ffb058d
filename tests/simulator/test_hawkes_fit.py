"""Maximum-likelihood fit: parameter recovery, stationarity, and goodness of fit both ways."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.fit import FitResult, fit, fit_poisson
from simulator.hawkes.goodness import goodness_of_fit
from simulator.hawkes.params import HawkesParams
from simulator.hawkes.simulate import simulate_n

# A 4-dimensional model in LOB-like units (events/s, millisecond kernels): every pair excites
# (all alpha > 0, so relative error is defined everywhere), self-excitation dominates a little,
# decays differ per pair (0.25 ms to 2 ms), spectral radius 0.67.
MU = np.array([3.0, 2.5, 3.5, 3.0])
ALPHA = np.array([
    [0.19, 0.16, 0.17, 0.15],
    [0.16, 0.19, 0.15, 0.17],
    [0.17, 0.15, 0.19, 0.16],
    [0.15, 0.17, 0.16, 0.19],
])
BETA = 100.0 * np.array([
    [5.0, 10.0, 20.0, 40.0],
    [10.0, 5.0, 40.0, 20.0],
    [20.0, 40.0, 5.0, 10.0],
    [40.0, 20.0, 10.0, 5.0],
])
TRUE = HawkesParams(MU, ALPHA, BETA)
SEED = 20261126


@pytest.fixture(scope="module")
def data() -> HawkesEvents:
    return simulate_n(TRUE, 100_000, np.random.default_rng(np.random.SeedSequence(SEED)))


@pytest.fixture(scope="module")
def fitted(data: HawkesEvents) -> FitResult:
    return fit(data)


def test_truth_is_stationary_with_cross_excitation() -> None:
    assert 0.5 <= TRUE.spectral_radius() <= 0.7
    assert np.all(ALPHA > 0.1)


def test_recovers_every_parameter_within_10_percent(data: HawkesEvents, fitted: FitResult) -> None:
    assert len(data) == 100_000
    assert fitted.converged, fitted.message
    p = fitted.params
    rel = {
        "mu": np.abs(p.mu / MU - 1.0),
        "alpha": np.abs(p.alpha / ALPHA - 1.0),
        "beta": np.abs(p.beta / BETA - 1.0),
    }
    for name, err in rel.items():
        assert np.all(err < 0.10), f"{name} relative errors:\n{np.round(err, 3)}"
    assert fitted.decays_at_bound == []


def test_fit_reports_stationarity_and_beats_truth_loglik(data: HawkesEvents, fitted: FitResult) -> None:
    from simulator.hawkes.likelihood import loglik

    assert fitted.spectral_radius == pytest.approx(fitted.params.spectral_radius())
    assert fitted.spectral_radius < 1.0
    # the MLE must score at least as well as the truth on its own data
    assert fitted.loglik >= loglik(TRUE, data) - 1e-6
    assert fitted.loglik == pytest.approx(loglik(fitted.params, data))


def test_ks_not_tiny_for_correct_model_and_tiny_for_poisson(data: HawkesEvents, fitted: FitResult) -> None:
    assert [d.n_events for d in fitted.goodness.dims] == data.counts().tolist()
    for d in fitted.goodness.dims:
        assert d.ks_pvalue > 1e-3, d
        assert d.residual_mean == pytest.approx(1.0, abs=0.03)
    poisson = goodness_of_fit(fit_poisson(data), data)
    for d in poisson.dims:
        assert d.ks_pvalue < 1e-10, d
    assert poisson.branching_ratio == 0.0


def test_penalty_caps_spectral_radius(data: HawkesEvents) -> None:
    # Forcing a cap below the truth's 0.67: the fit must honour it (up to the soft penalty's slack)
    # rather than return a model with the unconstrained radius.
    capped = fit(data.truncate(20_000), max_spectral_radius=0.5, init=TRUE)
    assert capped.spectral_radius < 0.51
    assert capped.spectral_radius > 0.45


def test_threads_do_not_change_the_result(data: HawkesEvents) -> None:
    part = data.truncate(10_000)
    a = fit(part, n_threads=1)
    b = fit(part, n_threads=2)
    np.testing.assert_array_equal(a.params.alpha, b.params.alpha)
    np.testing.assert_array_equal(a.params.beta, b.params.beta)
    assert a.loglik == b.loglik


def test_decay_given_fit_holds_decays_and_recovers_the_rest(data: HawkesEvents) -> None:
    generic = HawkesParams(np.asarray(0.5 * data.counts() / data.horizon, dtype=np.float64), np.full((4, 4), 0.1), BETA)
    given = fit(data, init=generic, fit_decays=False)
    np.testing.assert_allclose(given.params.beta, BETA, rtol=1e-12)
    assert np.all(np.abs(given.params.alpha / ALPHA - 1.0) < 0.10)
    assert np.all(np.abs(given.params.mu / MU - 1.0) < 0.10)
    with pytest.raises(ValueError):
        fit(data, fit_decays=False)


def test_rejects_unfittable_input() -> None:
    ev = HawkesEvents(np.array([0.1, 0.2, 0.3]), np.array([0, 0, 0]), 1.0, 2)
    with pytest.raises(ValueError):
        fit(ev)
    tied = HawkesEvents(np.array([0.1, 0.2, 0.2, 0.3, 0.4, 0.5]), np.array([0, 1, 0, 1, 0, 1]), 1.0, 2)
    with pytest.raises(ValueError, match="share a timestamp"):
        fit(tied)
