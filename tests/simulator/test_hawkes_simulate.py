"""Simulation: determinism across processes, both exact samplers agree with the model, reusable kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.goodness import goodness_of_fit
from simulator.hawkes.params import HawkesParams
from simulator.hawkes.poisson import poisson, poisson_small
from simulator.hawkes.simulate import (
    Method,
    decay_groups,
    hawkes_excite,
    hawkes_excite_grouped,
    hawkes_next_event,
    hawkes_next_event_grouped,
    jump_matrix,
    simulate,
)

REPO = Path(__file__).resolve().parents[2]

PARAMS = HawkesParams(
    mu=np.array([0.8, 0.5, 1.2]),
    alpha=np.array([[0.30, 0.10, 0.05], [0.20, 0.25, 0.10], [0.05, 0.15, 0.35]]),
    beta=np.array([[4.0, 9.0, 2.0], [6.0, 3.0, 12.0], [1.5, 5.0, 7.0]]),
)

_DIGEST_SCRIPT = """
import sys
import numpy as np
from simulator.hawkes.params import HawkesParams
from simulator.hawkes.simulate import simulate
p = HawkesParams(np.array([0.8, 0.5, 1.2]),
                 np.array([[0.30, 0.10, 0.05], [0.20, 0.25, 0.10], [0.05, 0.15, 0.35]]),
                 np.array([[4.0, 9.0, 2.0], [6.0, 3.0, 12.0], [1.5, 5.0, 7.0]]))
seed, method = int(sys.argv[1]), sys.argv[2]
ev = simulate(p, 2000.0, np.random.default_rng(np.random.SeedSequence(seed)), method=method)
print(len(ev), ev.digest())
"""


def _digest_in_subprocess(seed: int, method: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _DIGEST_SCRIPT, str(seed), method],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("method", ["cluster", "thinning"])
def test_same_seed_same_digest_across_processes_different_seed_differs(method: Method) -> None:
    a = _digest_in_subprocess(7, method)
    b = _digest_in_subprocess(7, method)
    c = _digest_in_subprocess(8, method)
    assert a == b
    assert a.split()[1] != c.split()[1]
    # and the in-process run agrees byte for byte with the other processes
    ev = simulate(PARAMS, 2000.0, np.random.default_rng(np.random.SeedSequence(7)), method=method)
    assert f"{len(ev)} {ev.digest()}" == a


@pytest.mark.parametrize("method", ["cluster", "thinning"])
def test_both_samplers_follow_the_model(method: Method) -> None:
    horizon = 20_000.0
    ev = simulate(PARAMS, horizon, np.random.default_rng(np.random.SeedSequence(11)), method=method)
    assert np.all(np.diff(ev.times) >= 0)
    assert ev.times[0] >= 0 and ev.times[-1] < horizon
    rate = ev.counts() / horizon
    expected = PARAMS.stationary_intensity()
    # counts of a stationary Hawkes path are over-dispersed; 5% is > 4 standard deviations here
    np.testing.assert_allclose(rate, expected, rtol=0.05)
    # time-rescaled residuals under the TRUE parameters must look Exp(1) in every dimension
    report = goodness_of_fit(PARAMS, ev)
    for d in report.dims:
        assert d.ks_pvalue > 1e-3, (method, d)


def test_samplers_disagree_with_a_wrong_model() -> None:
    # the KS check above has power: the same data judged under halved decays fails it
    ev = simulate(PARAMS, 20_000.0, np.random.default_rng(np.random.SeedSequence(11)))
    wrong = HawkesParams(PARAMS.mu, PARAMS.alpha, PARAMS.beta * 0.5)
    assert goodness_of_fit(wrong, ev).min_pvalue() < 1e-6


@njit(cache=True)
def _fused_loop(mu, jump, beta, horizon, rng, out_times, out_dims):
    # what a market model's loop looks like: the kernel drives it event by event
    d = mu.shape[0]
    state = np.zeros((d, d))
    lam = np.empty(d)
    t = 0.0
    n = 0
    while n < out_dims.shape[0]:
        t, k = hawkes_next_event(t, horizon, state, mu, beta, rng, lam)
        if k < 0:
            break
        hawkes_excite(state, jump, k)
        out_times[n] = t
        out_dims[n] = k
        n += 1
    return n, t


@njit(cache=True)
def _fused_loop_grouped(mu, jump, ubeta, group, horizon, rng, out_dims):
    d = mu.shape[0]
    gstate = np.zeros((d, ubeta.shape[0]))
    lam = np.empty(d)
    work = np.empty(ubeta.shape[0])
    t = 0.0
    n = 0
    while n < out_dims.shape[0]:
        t, k = hawkes_next_event_grouped(t, horizon, gstate, mu, ubeta, rng, lam, work)
        if k < 0:
            break
        hawkes_excite_grouped(gstate, jump, group, k)
        out_dims[n] = k
        n += 1
    return n, t


def test_grouped_kernel_from_another_njit_function_is_what_thinning_runs() -> None:
    out = np.empty(1_000_000, dtype=np.int64)
    ubeta, group = decay_groups(PARAMS.beta)
    n, _ = _fused_loop_grouped(PARAMS.mu, jump_matrix(PARAMS), ubeta, group, 500.0,
                               np.random.default_rng(np.random.SeedSequence(3)), out)
    ev = simulate(PARAMS, 500.0, np.random.default_rng(np.random.SeedSequence(3)), method="thinning")
    assert n == len(ev)
    np.testing.assert_array_equal(out[:n], ev.dims)


def test_decay_groups_shrink_repeated_decays() -> None:
    beta = np.array([[5.0, 8.0], [5.0, 5.0]])
    ubeta, group = decay_groups(beta)
    assert ubeta.tolist() == [5.0, 8.0]
    np.testing.assert_array_equal(ubeta[group], beta)


def test_ungrouped_kernel_from_another_njit_function_follows_the_model() -> None:
    # shared decays in part, so the kernel's reuse of repeated decay factors is exercised
    p = HawkesParams(PARAMS.mu, PARAMS.alpha, np.array([[4.0, 4.0, 2.0], [6.0, 6.0, 6.0], [2.0, 5.0, 5.0]]))
    horizon = 20_000.0
    out_t = np.empty(2_000_000)
    out_d = np.empty(2_000_000, dtype=np.int64)
    n, _ = _fused_loop(p.mu, jump_matrix(p), p.beta, horizon, np.random.default_rng(np.random.SeedSequence(4)),
                       out_t, out_d)
    ev = HawkesEvents(out_t[:n].copy(), out_d[:n].copy(), horizon, 3)
    np.testing.assert_allclose(ev.counts() / horizon, p.stationary_intensity(), rtol=0.05)
    for d in goodness_of_fit(p, ev).dims:
        assert d.ks_pvalue > 1e-3, d


def test_kernel_leaves_state_decayed_to_horizon_when_no_event() -> None:
    p = HawkesParams(np.array([1e-9]), np.array([[0.5]]), np.array([[2.0]]))
    state = np.array([[3.0]])
    lam = np.empty(1)
    rng = np.random.default_rng(0)
    t, k = hawkes_next_event(0.0, 1e-6, state, p.mu, p.beta, rng, lam)
    if k < 0:
        assert t == 1e-6
        assert state[0, 0] == pytest.approx(3.0 * np.exp(-2.0 * 1e-6))


def test_explosive_model_is_refused_not_truncated() -> None:
    p = HawkesParams(np.array([1.0]), np.array([[1.5]]), np.array([[10.0]]))
    with pytest.raises(RuntimeError):
        simulate(p, 100.0, np.random.default_rng(0), max_events=10_000)
    with pytest.raises(RuntimeError):
        simulate(p, 100.0, np.random.default_rng(0), method="thinning", max_events=10_000)


@njit(cache=True)
def _poisson_pairs(lams: np.ndarray, seed_rng: np.random.Generator, other: np.random.Generator) -> np.ndarray:
    out = np.empty((lams.shape[0], 4), dtype=np.int64)
    for k in range(lams.shape[0]):
        lam = lams[k]
        out[k, 0] = poisson_small(seed_rng, lam, np.exp(-lam)) if k % 2 == 0 else poisson(seed_rng, lam)
        out[k, 1] = other.poisson(lam)
        out[k, 2] = int(seed_rng.random() == other.random())  # the streams stay in step
        out[k, 3] = k
    return out


def test_nrt_free_poisson_draws_exactly_what_the_library_draws() -> None:
    """The sampler's and the reaction queue's own Poisson draws must consume and return exactly what
    ``rng.poisson`` does (paths and digests depend on it): small means (multiplication method),
    large ones (PTRS, with its log-gamma) and zero."""
    lams = np.concatenate([np.linspace(0.0, 12.0, 401), np.full(100, 0.99), np.linspace(10.0, 400.0, 400),
                           np.full(200, 25.0)])
    out = _poisson_pairs(lams, np.random.Generator(np.random.PCG64(11)), np.random.Generator(np.random.PCG64(11)))
    assert np.array_equal(out[:, 0], out[:, 1]) and out[:, 2].all()
    assert out[:, 0].max() > 300 and (out[:401, 0] == 0).any()  # large means and zeros were drawn
