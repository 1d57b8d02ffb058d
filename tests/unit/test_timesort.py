"""The cluster samplers' linear-time ordering must be exactly the stable sort, or every path changes."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.hawkes.timesort import MAX_BUCKET, stable_time_order


@pytest.mark.parametrize("seed", range(20))
def test_matches_the_stable_mergesort_on_uniform_and_bursty_times(seed: int) -> None:
    rng = np.random.default_rng(seed)
    horizon = float(rng.uniform(0.5, 400.0))
    n = int(rng.integers(2, 5000))
    times = rng.random(n) * horizon
    # Bursts: children a few microseconds after a parent, as a fast-decay Hawkes draws them.
    parents = rng.integers(0, n, size=n // 10)
    times[parents] = np.minimum(times[rng.integers(0, n, size=parents.size)] + rng.exponential(1e-6, parents.size),
                                horizon)
    np.testing.assert_array_equal(stable_time_order(times, horizon), np.argsort(times, kind="stable"))


def test_ties_keep_input_order_and_the_overfull_bucket_fallback_agrees() -> None:
    times = np.array([3.0, 1.0, 3.0, 1.0, 0.0, 3.0, 5.0, 5.0])
    assert stable_time_order(times, 5.0).tolist() == [4, 1, 3, 0, 2, 5, 6, 7]
    burst = np.full(MAX_BUCKET + 5, 2.5)
    burst[::3] = 2.4999999
    np.testing.assert_array_equal(stable_time_order(burst, 10.0), np.argsort(burst, kind="stable"))


def test_degenerate_inputs() -> None:
    assert stable_time_order(np.empty(0), 1.0).tolist() == []
    assert stable_time_order(np.array([0.7]), 1.0).tolist() == [0]
    assert stable_time_order(np.array([1.0, 0.0]), 1.0).tolist() == [1, 0]  # a time at the horizon itself
