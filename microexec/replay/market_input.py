"""What the recorded-market readers (sources.py) and the windowed calibration (windows.py) share.

Why a module of its own: sources.py builds a market with windows.py's models and windows.py reports
bad input with sources.py's error; with both names here neither imports the other both ways.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.market.model import MarketModel


class MarketInputError(ValueError):
    """The --market argument or its files cannot be replayed (one line, the user's to fix)."""


ModelAt = Callable[[str, int], tuple[MarketModel, str | None]]
