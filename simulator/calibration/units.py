"""A venue's tick and size unit, read off the decimals its prices and sizes are quoted with.

Why: a recording from a venue nobody configured (a Torghut dump of crypto perpetuals, a sub-penny
token) must still map onto the model's integer ticks and integer size units. Mapping fractional
sizes with a unit of 1 turns 0.0002 BTC and 3 BTC into one unit and three, so the fitted mark
distribution is nonsense; mapping 0.00001-tick prices with a 0.01 tick puts every change inside one
tick. The finest decimal the data carries is the coarsest unit that represents every value exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_MAX_DECIMALS = 8


def decimals(x: float, cap: int = DEFAULT_MAX_DECIMALS) -> int:
    """The fewest decimals that write ``x`` exactly, to a relative 1e-12 (so the binary noise of
    ``3.4 * 13`` does not read as 15 decimals), at most ``cap`` (also for values that need more)."""
    ax = abs(float(x))
    if ax == 0.0 or ax != ax or ax == float("inf"):
        return 0
    for d in range(cap + 1):
        scaled = ax * 10.0**d
        if scaled >= 0.5 and abs(scaled - round(scaled)) <= 1e-12 * scaled:
            return d
    return cap


def finest_decimals(values: Iterable[float], cap: int = DEFAULT_MAX_DECIMALS) -> int:
    """The most decimals any of ``values`` needs (0 for none)."""
    return max((decimals(v, cap) for v in values), default=0)


def unit_from_decimals(d: int) -> float:
    """One unit of the ``d``-th decimal: 2 -> 0.01, 0 -> 1.0."""
    return float(f"1e-{d}") if d > 0 else 1.0


def tick_from_prices(prices: Iterable[float], ceiling: float = 0.01, cap: int = DEFAULT_MAX_DECIMALS) -> float:
    """The tick the prices imply, never coarser than ``ceiling``.

    Why a ceiling: a window whose prices all happen to be whole dollars (or a venue with a 0.5 tick)
    says nothing finer than the decimals it shows; a finer model tick than the venue's only widens
    the spread in ticks, while a coarser one merges distinct prices, so the error is kept on the safe
    side (the simulation consumer does the same)."""
    return min(ceiling, unit_from_decimals(finest_decimals(prices, cap)))


def size_unit_from_sizes(sizes: Iterable[float], cap: int = DEFAULT_MAX_DECIMALS) -> float:
    """The size unit that counts every size as a whole number: 1 for shares, 1e-5 for a venue quoting
    BTC to five decimals."""
    return unit_from_decimals(finest_decimals((s for s in sizes if s > 0), cap))
