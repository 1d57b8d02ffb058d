"""Torghut's TCA arithmetic, verbatim, so simulated and realized numbers are comparable.

``dir`` = +1 buy / -1 sell; ``slippage_bps = dir * (avg_fill - arrival) / arrival * 1e4``;
``shortfall_notional = dir * (avg_fill - arrival) * filled_qty`` (TORGHUT.md).
"""

from __future__ import annotations

import math


def slippage_bps(direction: int, avg_fill: float, arrival: float) -> float:
    if direction not in (1, -1):
        raise ValueError("direction must be +1 (buy) or -1 (sell)")
    if not arrival > 0:
        raise ValueError("arrival price must be positive")
    if not math.isfinite(avg_fill):
        return math.nan
    return direction * (avg_fill - arrival) / arrival * 1e4


def shortfall_notional(direction: int, avg_fill: float, arrival: float, filled_qty: float) -> float:
    if filled_qty == 0:
        return 0.0
    return direction * (avg_fill - arrival) * filled_qty
