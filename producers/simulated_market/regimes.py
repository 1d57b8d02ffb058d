"""The regime schedule of the simulated market and exactly what each regime changes.

Why a pure schedule: the replay report, the paper executor and the tests must know which regime
was in force at any instant without reading the feed back; ``schedule(seed, symbol, t)`` answers
from the same seeded draws the feed used, and ``segments`` lists them for the JSON sidecar.

Time is cut into segments of ``segment_s`` seconds of event time from the feed's start. Segment 0
is always ``calm`` (the book settles from its symmetric start); each later segment draws its
regime from a generator seeded by (run seed, ``"regime"``, symbol, segment index) with
probabilities ``REGIME_WEIGHTS``. The Hawkes excitation restarts at each segment boundary (the
book carries over): a regime switch is a change of the order-flow law, not of the book.

What each regime changes, as multipliers of the symbol's own (calm) model (``REGIMES``):

========== ======== ========= ======== ========== ===========
regime     market   limits    cancels  level gap  refill gap
========== ======== ========= ======== ========== ===========
calm       1.0      1.0       1.0      1.0        1.0
stressed   1.3      0.6       1.8      2          2
shock      1.6      0.3       3.0      3          4
========== ======== ========= ======== ========== ===========

* *market*: baseline rate ``mu`` of market buys and sells (more aggressive flow);
* *limits*: ``mu`` of every limit dimension (touch, inside, deep: fewer orders join the book);
* *cancels*: ``mu`` of both cancel dimensions (liquidity withdrawal);
* *level gap*: the ticks between levels of refilled sides (a thinner, sparser book);
* *refill gap*: how far from the other touch an emptied side comes back (spread widening).

Net effect, checked by tests/unit/test_simulated_market.py: the mean quoted spread widens and
the touch depth shrinks from calm to stressed to shock. The excitation matrix is unchanged, so
every regime's law stays stationary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from producers.simulated_market.seeding import rng
from simulator.hawkes.params import HawkesParams
from simulator.market.model import MarketModel

CALM, STRESSED, SHOCK = "calm", "stressed", "shock"
REGIME_NAMES = (CALM, STRESSED, SHOCK)
REGIME_WEIGHTS = (0.6, 0.25, 0.15)
DEFAULT_SEGMENT_S = 60.0


@dataclass(frozen=True)
class RegimeChange:
    """Multipliers a regime applies to the calm model (see the module table)."""

    market: float
    limits: float
    cancels: float
    level_gap: int
    refill_gap: int


REGIMES: dict[str, RegimeChange] = {
    CALM: RegimeChange(1.0, 1.0, 1.0, 1, 1),
    STRESSED: RegimeChange(1.3, 0.6, 1.8, 2, 2),
    SHOCK: RegimeChange(1.6, 0.3, 3.0, 3, 4),
}


def _check(segment_s: float) -> None:
    if not segment_s > 0:
        raise ValueError(f"segment_s must be positive, got {segment_s}")


def regime_of_segment(seed: int, symbol: str, index: int) -> str:
    """The regime of segment ``index`` (0-based) of ``symbol``'s feed."""
    if index < 0:
        raise ValueError("segment index must be >= 0")
    if index == 0:
        return CALM
    u = rng(seed, "regime", symbol, index).random()
    return REGIME_NAMES[int(np.searchsorted(np.cumsum(REGIME_WEIGHTS), u, side="right"))]


def schedule(seed: int, symbol: str, t_s: float, segment_s: float = DEFAULT_SEGMENT_S) -> str:
    """The regime in force ``t_s`` seconds of event time after the feed's start."""
    _check(segment_s)
    if t_s < 0:
        raise ValueError(f"t_s must be >= 0, got {t_s}")
    return regime_of_segment(seed, symbol, int(t_s // segment_s))


def segments(seed: int, symbol: str, duration_s: float,
             segment_s: float = DEFAULT_SEGMENT_S) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, regime)`` for every segment covering ``[0, duration_s)``."""
    _check(segment_s)
    out = []
    k = 0
    while k * segment_s < duration_s:
        out.append((k * segment_s, min((k + 1) * segment_s, duration_s), regime_of_segment(seed, symbol, k)))
        k += 1
    return out


def regime_model(model: MarketModel, regime: str) -> MarketModel:
    """``model`` (the symbol's calm model) as it behaves in ``regime``."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; expected one of {REGIME_NAMES}")
    ch = REGIMES[regime]
    if regime == CALM:
        return model
    mu = model.hawkes.mu.copy()
    mu[0:2] *= ch.market
    mu[2:8] *= ch.limits
    mu[8:10] *= ch.cancels
    gaps = np.asarray(model.level_gap_table) * ch.level_gap
    return replace(model, hawkes=HawkesParams(mu, model.hawkes.alpha, model.hawkes.beta),
                   level_gap_table=gaps, init_spread_ticks=model.init_spread_ticks * ch.refill_gap,
                   metadata={**model.metadata, "regime": regime})


def sidecar(seed: int, symbols: list[str], start_ns: int, duration_s: float,
            segment_s: float = DEFAULT_SEGMENT_S) -> dict[str, Any]:
    """The schedule as JSON-ready data: what a report needs to label any instant by regime."""
    return {
        "schema": "microexec.regime_schedule.v1",
        "seed": seed,
        "start_ns": start_ns,
        "duration_s": duration_s,
        "segment_s": segment_s,
        "regimes": {name: vars(ch) for name, ch in REGIMES.items()},
        "symbols": {s: [{"start_ns": start_ns + int(a * 1e9), "end_ns": start_ns + int(b * 1e9), "regime": r}
                        for a, b, r in segments(seed, s, duration_s, segment_s)] for s in symbols},
    }


def write_sidecar(path: str | Path, data: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
