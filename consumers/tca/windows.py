"""Divergence drift per symbol on tumbling windows of orders.

Why windows of N orders (not of wall or event minutes): every judged window then has the same,
sufficient sample (Torghut's adaptive policy wants at least 6 samples per symbol and regime; the
default is 10), a quiet symbol is never judged on one or two orders, and the window that completes
is judged on the record that completes it, so the recalibration request rides on a divergence
record without waiting for a later order. Windows follow the order in which divergence records are
emitted, which the event-time merge makes the same on every replay.

Only orders with a divergence (a distribution was joined) enter a window. A window drifts when its
mean |divergence| exceeds the tolerance; ``k`` consecutive drifting windows set
``recalibration_requested`` on the record that closes the k-th, and the streak starts again from zero
(one request per k drifting windows, not one per record while drift lasts). A window within
tolerance resets the streak.
"""

from __future__ import annotations

from math import fsum
from typing import Any, NamedTuple


class WindowResult(NamedTuple):
    state: dict[str, Any]
    mean_abs_bps: float | None  # mean |divergence| of the window this record is in (None: no sample yet)
    closed: bool  # this record completed its window
    drift_windows: int  # consecutive drifting windows, counting the one just closed
    recalibrate: bool


def empty() -> dict[str, Any]:
    return {"n": 0, "abs": [], "streak": 0}


def observe(window: dict[str, Any] | None, divergence_bps: float | None, *, size: int, tolerance_bps: float,
            k: int) -> WindowResult:
    """Add one order's divergence (None: it has none, the window is unchanged) and judge the window if
    it is now complete. The |divergence| values are kept (at most ``size``) and summed with
    ``math.fsum``, so the mean does not depend on float summation order."""
    w = window if window is not None else empty()
    if divergence_bps is None:
        values = w["abs"]
        mean = fsum(values) / len(values) if values else None
        return WindowResult(w, mean, False, w["streak"], False)
    values = [*w["abs"], abs(divergence_bps)]
    mean = fsum(values) / len(values)
    if len(values) < size:
        return WindowResult({"n": len(values), "abs": values, "streak": w["streak"]}, mean, False, w["streak"], False)
    streak = w["streak"] + 1 if mean > tolerance_bps else 0
    recalibrate = streak >= k
    after = 0 if recalibrate else streak
    return WindowResult({"n": 0, "abs": [], "streak": after}, mean, True, streak, recalibrate)
