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
    debatch: dict[str, float | int | str] = field(default_factory=dict)
    """Empty unless the event times are a receive-time clock de-batched by
    :func:`simulator.calibration.debatch.debatch_flow` (then: the scheme, its threshold, seed and
    counts, carried into the model's metadata so a model says which times it was fitted on)."""

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


def slice_flow(flow: RecordedFlow, start: float, end: float) -> RecordedFlow:
    """The events of ``[start, end)`` as a flow of their own, times from 0: one rolling window.

    Why: the simulation consumer recalibrates on the window it has just seen, from whatever source
    (a LOBSTER day, a Binance recording, a Torghut stream). Per-event arrays are cut; the
    placement samples (deep, cancel and inside offsets, level gaps) are not time-stamped and are
    kept whole, so a short window borrows the recording's book geometry rather than a handful
    of samples.
    """
    if not (0.0 <= start < end):
        raise ValueError(f"need 0 <= start < end, got [{start}, {end})")
    sel = (flow.times >= start) & (flow.times < end)
    if not np.any(sel):
        raise ValueError(f"no events in [{start}, {end}) of {flow.source}")
    return RecordedFlow(
        symbol=flow.symbol, source=f"{flow.source}[{start:g},{end:g})", times=flow.times[sel] - start,
        dims=flow.dims[sel], sizes=flow.sizes[sel], horizon=float(min(end, flow.horizon) - start),
        tick_size=flow.tick_size, ref_price=flow.ref_price, deep_offsets=flow.deep_offsets,
        cancel_offsets=flow.cancel_offsets, spreads=flow.spreads[sel], mids=flow.mids[sel],
        diagnostics=dict(flow.diagnostics), inside_offsets=flow.inside_offsets, level_gaps=flow.level_gaps,
        debatch=dict(flow.debatch))
