"""The one place a market path's order flow is drawn: stationary Hawkes, the multi-scale model, or
the multi-scale model x own-age factors (Ogata thinning, :mod:`simulator.hawkes.multiscale_age_sim`).

The book loops consume a pre-drawn (times, dims) stream, because the market's flow is exogenous
to the book; so the richer flow needs no change to them, only this choice of sampler. Both
samplers take the same Generator, so the seeding contract (flow and book streams spawned from one
SeedSequence) is unchanged, and a model without ``multiscale`` draws exactly what it drew before.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import simulate_multiscale
from simulator.hawkes.multiscale_age_sim import simulate_age, simulate_age_arrays
from simulator.hawkes.simulate import simulate, simulate_cluster_arrays
from simulator.market.model import MarketModel


def draw_flow(model: MarketModel, seconds: float, rng: np.random.Generator, *,
              max_events: int = 200_000_000) -> HawkesEvents:
    """Order flow on ``[0, seconds]``; a multi-scale model starts at ``model.flow_start_s`` in its profile."""
    if model.multiscale is None:
        return simulate(model.hawkes, float(seconds), rng, method="cluster", max_events=max_events)
    if model.own_age is not None:
        return simulate_age(model.multiscale, model.own_age, float(seconds), rng, start=model.flow_start_s,
                            max_events=max_events)
    return simulate_multiscale(model.multiscale, float(seconds), rng, start=model.flow_start_s,
                               max_events=max_events)


def draw_flow_arrays(model: MarketModel, seconds: float, rng: np.random.Generator, *,
                     max_events: int = 200_000_000) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The same draws as :func:`draw_flow`, as bare (times, dims) arrays.

    Why: the Monte Carlo draws a thousand paths per order, and re-validating each stream (sorted,
    in range) costs more than the sampler's own checks need; the compiled sampler builds them
    sorted and in range by construction.
    """
    if model.multiscale is None:
        return simulate_cluster_arrays(model.hawkes, float(seconds), rng, max_events=max_events)
    if model.own_age is not None:
        return simulate_age_arrays(model.multiscale, model.own_age, float(seconds), rng, start=model.flow_start_s,
                                   max_events=max_events)
    ev = draw_flow(model, seconds, rng, max_events=max_events)
    return ev.times, ev.dims
