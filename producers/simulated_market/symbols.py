"""Per-symbol market models: the fitted AMZN model, and seeded variants of it for other symbols.

Why derived and not invented: the only calibrated model in the repository is AMZN on 2012-06-21
(docs/params); every other simulated symbol keeps its *shape* (excitation matrix, size marks,
placement tables, spread in ticks) and gets its own, seeded scale: all baseline rates times a
factor in [0.5, 3], a price level around AMZN's (lognormal, sigma 0.6, floored at 5), and a tick
size of 0.01, 0.01 or 0.02. The draw uses (run seed, "symbol", name), so the same symbol has the
same model in every process that shares the seed.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from microexec.sample_data import ROOT
from producers.simulated_market.seeding import rng
from simulator.hawkes.params import HawkesParams
from simulator.market.model import MarketModel

FITTED_PARAMS = ROOT / "docs" / "params" / "AMZN_2012-06-21.json"
FITTED_SYMBOL = "AMZN"
TICKS = (0.01, 0.01, 0.02)


def symbol_names(n: int) -> list[str]:
    """``n`` symbols: the fitted AMZN first, then SIM01, SIM02, ... (clearly synthetic names)."""
    if n < 1:
        raise ValueError(f"need at least one symbol, got {n}")
    return [FITTED_SYMBOL] + [f"SIM{i:02d}" for i in range(1, n)]


@lru_cache(maxsize=4)
def fitted_model(path: Path = FITTED_PARAMS) -> MarketModel:
    return MarketModel.load(path)


def symbol_model(seed: int, symbol: str, base: MarketModel | None = None) -> MarketModel:
    """The calm-regime model of ``symbol``: ``base`` itself for AMZN, a seeded variant otherwise."""
    base = base or fitted_model()
    if symbol == FITTED_SYMBOL:
        return replace(base, metadata={**base.metadata, "symbol": symbol, "derived": False})
    g = rng(seed, "symbol", symbol)
    rate = float(np.exp(g.uniform(np.log(0.5), np.log(3.0))))
    tick = float(TICKS[int(g.integers(len(TICKS)))])
    price = max(5.0, base.ref_price * float(np.exp(g.normal(0.0, 0.6))))
    price = round(round(price / tick) * tick, 6)
    hawkes = HawkesParams(base.hawkes.mu * rate, base.hawkes.alpha, base.hawkes.beta)
    return replace(base, hawkes=hawkes, tick_size=tick, ref_price=price,
                   metadata={**base.metadata, "symbol": symbol, "derived": True, "rate_scale": rate})
