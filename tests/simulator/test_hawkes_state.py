"""Spread-modulated (state-dependent) multi-scale Hawkes: recovery, the h = 1 special case, states;
and the validation diagnostics (free-shape kernels, lag bump)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_fit import fit_multiscale
from simulator.hawkes.multiscale_state import compact_states, fit_state_modulated, spread_states, tick_states
from simulator.validation_diagnostics import free_kernel_fit, lag_bump, lobster_unfitted_spread_moves, one_tick_evidence
from tests.support.modulated_hawkes import simulate_modulated

MU = np.array([0.5, 0.3])
ALPHA = np.array([[0.3, 0.1], [0.2, 0.2]])
DECAY = 5.0
H = np.array([[1.0, 0.5, 2.0], [1.0, 1.5, 0.7]])


def _simulate(h: np.ndarray, n_events: int, seed: int) -> tuple[HawkesEvents, np.ndarray, int]:
    """States jump after events (tests.support.modulated_hawkes), ``h`` the state factors."""
    return simulate_modulated(MU, ALPHA, DECAY, n_events, seed, state_factors=h)


def _start(events: HawkesEvents) -> MultiScaleParams:
    """The unmodulated model at the true decay: the starting point the window report hands over."""
    return fit_multiscale(events, n_scales=1, decays=[DECAY], fit_decays=False).params


def test_recovers_state_factors_baselines_and_weights_within_10_percent() -> None:
    ev, states, tail = _simulate(H, 80_000, seed=7)
    fit = fit_state_modulated(_start(ev), ev, states, tail, 3)
    assert fit.converged
    # factors are normalised to 1 in the state the path spends most time in; compare ratios
    spent = np.bincount(states, weights=np.diff(ev.times, prepend=0.0), minlength=3)
    ref = int(np.argmax(spent))
    truth = H / H[:, [ref]]
    assert np.max(np.abs(fit.factors - truth) / truth) < 0.10
    scale = H[:, ref]  # the row's scale moves into the rates
    assert np.max(np.abs(fit.base.baseline[:, 0] - MU * scale) / (MU * scale)) < 0.10
    assert np.max(np.abs(fit.base.alpha[:, :, 0] - ALPHA * scale[:, None]) / (ALPHA * scale[:, None])) < 0.10
    assert fit.goodness.min_pvalue() > 0.01


def test_unmodulated_data_give_unit_factors_and_no_worse_likelihood() -> None:
    ev, _, _ = _simulate(np.ones((2, 3)), 20_000, seed=11)
    states = np.random.default_rng(3).integers(0, 3, len(ev)).astype(np.int64)  # unrelated to the rates
    base = fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)
    fit = fit_state_modulated(base.params, ev, states, 0, 3)
    assert np.max(np.abs(fit.factors - 1.0)) < 0.10
    assert fit.loglik >= base.loglik - 1e-6  # nested model: the factors can only help the likelihood
    assert fit.n_params == base.n_params + 1 + 2 * 2  # + the decay, which this base held fixed, + D*(S-1)
    assert fit.bic > base.bic  # and the criterion does not pay for them


def test_one_state_is_the_multiscale_model() -> None:
    ev, _, _ = _simulate(np.ones((2, 1)), 5_000, seed=5)
    base = fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)
    fit = fit_state_modulated(base.params, ev, np.zeros(len(ev), np.int64), 0, 1)
    assert fit.loglik == pytest.approx(base.loglik, rel=1e-6, abs=1e-3)
    p_fit = [d.ks_pvalue for d in fit.goodness.dims]
    p_base = [d.ks_pvalue for d in base.goodness.dims]
    assert p_fit == pytest.approx(p_base, rel=1e-3)


def test_states_are_checked() -> None:
    ev, states, tail = _simulate(H, 500, seed=1)
    with pytest.raises(ValueError, match="one state"):
        fit_state_modulated(_start(ev), ev, states[:-1], tail, 3)
    with pytest.raises(ValueError, match="one state"):
        fit_state_modulated(_start(ev), ev, states, 3, 3)


def test_spread_states_by_quantiles_with_one_sided_books_widest() -> None:
    spreads = np.array([1, 1, 2, 3, 5, 8, 13, 21, -1], np.int64)
    st, cuts = spread_states(spreads)
    assert cuts.size == 2 and st.min() == 0 and st.max() == 2
    assert st[-1] == 2 and np.all(np.diff(st[:-1]) >= 0)
    one, none = spread_states(np.ones(50, np.int64))
    assert none.size == 0 and np.all(one == 0)


def test_free_kernels_pass_on_hawkes_data_and_lag_bump_sees_a_planted_delay() -> None:
    ev, _, _ = _simulate(np.ones((2, 1)), 6_000, seed=9)
    free = free_kernel_fit(ev)
    assert free.passes() == 2
    assert free.n_params == 2 * (1 + 2 * 18)
    rng = np.random.default_rng(2)
    poisson = np.sort(rng.uniform(0.0, 2_000.0, 4_000))
    assert lag_bump(poisson) == pytest.approx(1.0, abs=0.25)
    echoed = np.sort(np.concatenate([poisson, poisson[::2] + rng.uniform(0.50, 0.54, 2_000)]))
    assert lag_bump(echoed) > 1.5


def test_recovers_a_state_that_switches_a_dimension_off() -> None:
    """The one-tick case: dimension 1 (think: inside-spread orders) is almost impossible in state 0,
    its rate only a factor; the fit must find the near-zero factor and still pass KS there."""
    h = np.array([[1.0, 0.8, 1.2], [0.02, 1.0, 1.6]])
    ev, states, tail = _simulate(h, 60_000, seed=13)
    fit = fit_state_modulated(_start(ev), ev, states, tail, 3)
    rel = fit.factors / fit.factors.max(axis=1, keepdims=True)  # free of the normalising state
    truth = h / h.max(axis=1, keepdims=True)
    assert rel[1, 0] < 0.05  # off where it is off (truth 0.0125)
    on = truth > 0.1
    assert np.max(np.abs(rel[on] - truth[on]) / truth[on]) < 0.10
    assert fit.goodness.min_pvalue() > 0.01
    base = fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)
    assert fit.bic < base.bic  # and the criterion prefers the state model on such data


def test_tick_states_and_compaction() -> None:
    st, cuts = tick_states(np.array([1, 2, 3, 9, -1, 1], np.int64))
    assert st.tolist() == [0, 1, 2, 2, 2, 0] and cuts.tolist() == [2.0, 3.0]
    # a window never at two ticks: classes renumbered in order, the empty one dropped
    c, tail, n = compact_states(np.array([0, 2, 2, 0], np.int64), 2)
    assert c.tolist() == [0, 1, 1, 0] and tail == 1 and n == 2


def test_one_tick_evidence_and_unfitted_spread_moves() -> None:
    times = np.array([1.0, 2.0, 4.0, 5.0])
    dims = np.array([4, 2, 5, 4], np.int64)
    spreads = np.array([2, 1, 1, 3], np.int64)  # spread before each event, held since the previous one
    ev = one_tick_evidence(times, dims, spreads, (4, 5))
    assert ev.time_share == pytest.approx(3.0 / 5.0) and ev.inside_events == 3 and ev.inside_at_one_tick == 1
    # LOBSTER rows: time, type, id, size, price, direction; book rows: ask, ask size, bid, bid size
    msg = np.array([[0.0, 1, 1, 10, 100, 1], [1.0, 1, 2, 10, 102, 1], [2.0, 3, 1, 10, 100, 1],
                    [3.0, 1, 3, 10, 105, -1], [4.0, 7, 0, 0, 0, 0]], dtype=np.float64)
    book = np.array([[105, 10, 100, 10], [105, 10, 102, 10], [105, 10, 102, 10], [105, 20, 102, 10],
                     [106, 20, 102, 10]], dtype=np.float64)
    assert lobster_unfitted_spread_moves(msg, book) == (2, 1)  # the inside bid and the halt; the halt is unfitted
