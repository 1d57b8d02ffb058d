"""Event-time exponential decay: the O(1) building block of every windowed feature.

Why exponential kernels instead of hard windows: a decayed sum needs two numbers of state (value and
the event time it refers to), updates in constant time, serialises to JSON trivially, and behaves
identically in a replay, whereas a hard window needs the whole window's events in the changelog.
All times are event-time nanoseconds; a negative gap (an out-of-order event) is treated as zero, so
late data never "un-decays" a sum.
"""

from __future__ import annotations

import math

NS_PER_S = 1_000_000_000


def decay_factor(dt_ns: int, tau_s: float) -> float:
    """exp(-dt / tau) with dt clamped at zero (late events do not rewind time)."""
    if dt_ns <= 0:
        return 1.0
    return math.exp(-(dt_ns / NS_PER_S) / tau_s)


def ewma_time(mean: float, held_value: float, dt_ns: int, tau_s: float) -> float:
    """Time-weighted EWMA of a piecewise-constant signal.

    ``held_value`` is the value the signal held during the last ``dt_ns``; it receives the weight
    ``1 - exp(-dt/tau)``. This is the exact continuous-time exponential average, so irregular
    update spacing (bursty quotes) does not bias the baseline toward busy periods.
    """
    w = 1.0 - decay_factor(dt_ns, tau_s)
    return mean + w * (held_value - mean)


def ewma_count(mean: float | None, sample: float, alpha: float) -> float:
    """Per-sample EWMA, for quantities observed as discrete samples (latencies)."""
    if mean is None:
        return sample
    return mean + alpha * (sample - mean)
