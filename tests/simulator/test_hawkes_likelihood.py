"""Log-likelihood: the recursion equals the definition, and the gradient equals finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.likelihood import loglik, loglik_grad
from simulator.hawkes.params import HawkesParams
from simulator.hawkes.simulate import simulate

PARAMS = HawkesParams(
    mu=np.array([0.5, 0.4, 0.3]),
    alpha=np.array([[0.3, 0.1, 0.05], [0.2, 0.2, 0.1], [0.05, 0.1, 0.4]]),
    beta=np.array([[2.0, 5.0, 1.0], [3.0, 4.0, 8.0], [1.5, 2.5, 6.0]]),
)


@pytest.fixture(scope="module")
def events() -> HawkesEvents:
    return simulate(PARAMS, 400.0, np.random.default_rng(np.random.SeedSequence(5)))


def _brute_force_loglik(p: HawkesParams, ev: HawkesEvents) -> float:
    """O(N^2) straight from the definition: sum log lambda(t_k) minus the integrated intensity."""
    t, m, horizon = ev.times, ev.dims, ev.horizon
    ll = 0.0
    for k in range(len(t)):
        past = slice(0, k)
        lam = p.mu[m[k]] + np.sum(p.alpha[m[k], m[past]] * p.beta[m[k], m[past]]
                                  * np.exp(-p.beta[m[k], m[past]] * (t[k] - t[past])))
        ll += np.log(lam)
    ll -= p.mu.sum() * horizon
    for i in range(p.dim):
        ll -= np.sum(p.alpha[i, m] * (1.0 - np.exp(-p.beta[i, m] * (horizon - t))))
    return float(ll)


def test_recursion_equals_definition(events: HawkesEvents) -> None:
    assert len(events) > 300
    assert loglik(PARAMS, events) == pytest.approx(_brute_force_loglik(PARAMS, events), rel=1e-10)


def test_gradient_matches_central_differences(events: HawkesEvents) -> None:
    ll, g_mu, g_alpha, g_beta = loglik_grad(PARAMS, events)
    assert ll == pytest.approx(loglik(PARAMS, events))
    h = 1e-6

    def f(mu: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> float:
        return loglik(HawkesParams(mu, alpha, beta), events)

    mu, alpha, beta = PARAMS.mu, PARAMS.alpha, PARAMS.beta
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        num = (f(mu + e, alpha, beta) - f(mu - e, alpha, beta)) / (2 * h)
        assert g_mu[i] == pytest.approx(num, rel=1e-5, abs=1e-5)
        for j in range(3):
            e2 = np.zeros((3, 3))
            e2[i, j] = h
            num_a = (f(mu, alpha + e2, beta) - f(mu, alpha - e2, beta)) / (2 * h)
            num_b = (f(mu, alpha, beta + e2) - f(mu, alpha, beta - e2)) / (2 * h)
            assert g_alpha[i, j] == pytest.approx(num_a, rel=1e-5, abs=1e-5)
            assert g_beta[i, j] == pytest.approx(num_b, rel=1e-5, abs=1e-5)


def test_gradient_at_zero_excitation_is_one_sided_safe(events: HawkesEvents) -> None:
    # the fit's box allows alpha == 0 exactly; the gradient there must be finite and correct
    p0 = HawkesParams(PARAMS.mu, np.zeros((3, 3)), PARAMS.beta)
    _, _, g_alpha, g_beta = loglik_grad(p0, events)
    assert np.all(np.isfinite(g_alpha))
    np.testing.assert_array_equal(g_beta, 0.0)
    h = 1e-7
    e = np.zeros((3, 3))
    e[1, 2] = h
    num = (loglik(HawkesParams(PARAMS.mu, e, PARAMS.beta), events) - loglik(p0, events)) / h
    assert g_alpha[1, 2] == pytest.approx(num, rel=1e-4)


def test_empty_path_is_pure_compensator() -> None:
    ev = HawkesEvents(np.array([]), np.array([], dtype=np.int64), 10.0, 3)
    assert loglik(PARAMS, ev) == pytest.approx(-PARAMS.mu.sum() * 10.0)


def test_row_terms_sum_to_the_likelihood_with_the_same_gradients(events: HawkesEvents) -> None:
    from simulator.hawkes.likelihood import row_loglik_grad

    ll, g_mu, g_alpha, g_beta = loglik_grad(PARAMS, events)
    total = 0.0
    for i in range(PARAMS.dim):
        ga, gb = np.zeros(3), np.zeros(3)
        ll_i, gm_i = row_loglik_grad(events.times, events.dims, events.horizon, i, float(PARAMS.mu[i]),
                                     PARAMS.alpha[i].copy(), PARAMS.beta[i].copy(), ga, gb)
        total += ll_i
        assert gm_i == pytest.approx(g_mu[i], rel=1e-10)
        np.testing.assert_allclose(ga, g_alpha[i], rtol=1e-10)
        np.testing.assert_allclose(gb, g_beta[i], rtol=1e-10, atol=1e-12)
    assert total == pytest.approx(ll, rel=1e-12)
