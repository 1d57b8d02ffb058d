"""Ogata thinning of a two-dimensional exponential Hawkes process modulated by own-age and book-state
factors: the ground truth the modulated fits' recovery tests fit back.

lambda_i(t) = h_age[i, age class of i] * h_state[i, s] * (mu_i + sum_j alpha_ij decay A_j(t)). The
excitation only decays between events, so max over the age classes of h_age times it bounds lambda_i
until the next event, whatever age crossings happen in between. With state factors the state jumps
(to a uniformly drawn class) after an event with probability 0.2, so it is constant between events and
known before each one, as the fits assume. Without a kind of factor it is 1 and draws nothing, so a
path depends only on the factors given and the seed.
"""

from __future__ import annotations

import numpy as np

from simulator.hawkes.events import HawkesEvents


def simulate_modulated(mu: np.ndarray, alpha: np.ndarray, decay: float, n_events: int, seed: int, *,
                       age_factors: np.ndarray | None = None, age_edges: tuple[float, ...] = (),
                       state_factors: np.ndarray | None = None) -> tuple[HawkesEvents, np.ndarray, int]:
    """``n_events`` events; returns them, the state before each one and the state after the last."""
    rng = np.random.default_rng(seed)
    d = mu.shape[0]
    h_age = np.ones((d, 1)) if age_factors is None else age_factors
    h_state = np.ones((d, 1)) if state_factors is None else state_factors
    edges = np.asarray(age_edges, dtype=np.float64)
    hmax = h_age.max(axis=1)
    t, s = 0.0, 0
    a = np.zeros(d)  # decayed counts per source
    last = np.full(d, -np.inf)
    times: list[float] = []
    dims: list[int] = []
    states: list[int] = []
    while len(times) < n_events:
        lam_bar = float(np.sum(hmax * h_state[:, s] * (mu + decay * alpha @ a)))
        dt = rng.exponential(1.0 / lam_bar)
        a *= np.exp(-decay * dt)
        t += dt
        cls = np.searchsorted(edges, t - last, side="right")
        lam = h_age[np.arange(d), cls] * h_state[:, s] * (mu + decay * alpha @ a)
        u = rng.random() * lam_bar
        if u < lam.sum():
            i = int(np.searchsorted(np.cumsum(lam), u, side="right"))
            times.append(t)
            dims.append(i)
            states.append(s)
            a[i] += 1.0
            last[i] = t
            if state_factors is not None and rng.random() < 0.2:
                s = int(rng.integers(0, h_state.shape[1]))
    events = HawkesEvents(np.array(times), np.array(dims, np.int64), times[-1] + 1e-9, d)
    return events, np.array(states, np.int64), s
