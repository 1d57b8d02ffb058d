"""Order-size marks: both fits reproduce their sample, and sampling is seeded and table-driven."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from simulator.hawkes.marks import MarkDistribution, fit_marks, sample_mark


def test_empirical_fit_keeps_round_lot_spikes() -> None:
    sizes = np.array([100] * 50 + [200] * 30 + [37] * 10 + [500] * 10)
    m = fit_marks(sizes, "empirical")
    assert m.values.tolist() == [37, 100, 200, 500]
    np.testing.assert_allclose(m.probabilities, [0.1, 0.5, 0.3, 0.1])
    draws = m.sample(np.random.default_rng(np.random.SeedSequence(1)), 100_000)
    freq = np.array([(draws == v).mean() for v in m.values])
    np.testing.assert_allclose(freq, m.probabilities, atol=0.01)
    assert set(np.unique(draws).tolist()) <= set(m.values.tolist())


def test_lognormal_fit_recovers_parameters_and_mean() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(2))
    sizes = np.round(rng.lognormal(mean=4.0, sigma=0.8, size=50_000))
    sizes = sizes[sizes > 0]
    m = fit_marks(sizes, "lognormal", lot=1)
    assert m.log_mean == pytest.approx(4.0, abs=0.02)
    assert m.log_sd == pytest.approx(0.8, abs=0.02)
    assert m.mean() == pytest.approx(sizes.mean(), rel=0.02)
    assert m.values[0] == 1 and np.all(np.diff(m.values) == 1)


def test_sampling_is_deterministic_and_round_trips() -> None:
    m = fit_marks(np.array([1, 2, 2, 3, 3, 3, 10]), "empirical")
    a = m.sample(np.random.default_rng(np.random.SeedSequence(9)), 1000)
    b = MarkDistribution.from_dict(m.to_dict()).sample(np.random.default_rng(np.random.SeedSequence(9)), 1000)
    np.testing.assert_array_equal(a, b)


@njit(cache=True)
def _sum_of_sizes(values, cdf, rng, n):
    s = 0
    for _ in range(n):
        s += sample_mark(values, cdf, rng)
    return s


def test_sampler_callable_from_njit_loop() -> None:
    m = fit_marks(np.array([5, 5, 5, 7]), "empirical")
    total = _sum_of_sizes(m.values, m.cdf, np.random.default_rng(0), 10_000)
    assert 10_000 * 5 <= total <= 10_000 * 7
    assert total / 10_000 == pytest.approx(m.mean(), rel=0.02)


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        fit_marks(np.array([1.0, -2.0]))
    with pytest.raises(ValueError):
        fit_marks(np.array([]))
