"""Recorded order flow mapped onto the market model's ten event types: the input to calibration.

Every source (LOBSTER, Torghut JSON) is reduced to this one container, so the fitting, the mark
fits and the report do not care where the events came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulator.market.types import N_DIMS

TIE_SPACING_S = 1e-6
"""Spacing given to events that share a timestamp. Why: an exact tie makes the Hawkes likelihood
unbounded (a decay can grow without limit to put infinite intensity on it), and one microsecond
is below anything a strategy reacts to yet far from the nanosecond resolution of the data."""


@dataclass(frozen=True)
class RecordedFlow:
    """Events in seconds from the start of the window, their dimension and size, plus book context."""

    symbol: str
    source: str
    times: NDArray[np.float64]
    dims: NDArray[np.int64]
    sizes: NDArray[np.int64]
    horizon: float
    tick_size: float
    ref_price: float
    deep_offsets: tuple[NDArray[np.int64], NDArray[np.int64]]  # ticks behind the touch, bid / ask
    cancel_offsets: tuple[NDArray[np.int64], NDArray[np.int64]]  # ticks behind the touch, 0 = at it
    spreads: NDArray[np.int64]  # spread in ticks before each mapped message (the real spread sample)
    mids: NDArray[np.float64]  # mid price before each mapped event (currency)
    diagnostics: dict[str, int] = field(default_factory=dict)
    inside_offsets: tuple[NDArray[np.int64], NDArray[np.int64]] = field(
        default_factory=lambda: (np.zeros(0, np.int64), np.zeros(0, np.int64)))  # improvement, ticks
    level_gaps: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Ticks from a touch that was taken or pulled to the next level behind it (either side)."""

    def counts(self) -> NDArray[np.int64]:
        return np.bincount(self.dims, minlength=N_DIMS).astype(np.int64)

    def __len__(self) -> int:
        return int(self.times.shape[0])


def separate_ties(times: NDArray[np.float64], spacing: float = TIE_SPACING_S) -> tuple[NDArray[np.float64], int]:
    """Make times strictly increasing by pushing each tied event ``spacing`` after its predecessor.

    Returns the new times and how many events moved; order is preserved, so causality within a
    timestamp (LOBSTER writes messages in matching-engine order) is kept.
    """
    out = np.array(times, dtype=np.float64, copy=True)
    moved = 0
    for k in range(1, out.shape[0]):
        if out[k] <= out[k - 1]:
            out[k] = out[k - 1] + spacing
            moved += 1
    return out, moved
