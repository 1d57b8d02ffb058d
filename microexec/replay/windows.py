"""One calibrated model per time window of a recording, so an order meets the market of its hour.

Why: a single stationary Hawkes model over a whole day averages the busy open and close with the
quiet midday (docs/validation.md: the KS misfit is that seasonality). Fitting each window separately
and executing an order on its arrival window's model keeps the recorded intraday pattern; a window
too thin to fit (fewer than two event types with enough events) falls back to the whole-slice model,
and says so.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from microexec.replay.market_input import MarketInputError, ModelAt
from simulator.calibration import Calibration
from simulator.market.model import MarketModel
from streams.timeutil import format_ts_ns

NS = 1_000_000_000


def window_edges(start_ns: int, end_ns: int, window_s: float) -> list[int]:
    """Edges ``[start, start + w, ..., end]``; a last piece shorter than half a window joins the one before."""
    if not window_s > 0:
        raise ValueError("window_s must be positive")
    step = int(window_s * NS)
    edges = [*range(start_ns, end_ns, step), end_ns]
    if len(edges) > 2 and edges[-1] - edges[-2] < step // 2:
        del edges[-2]
    return edges


def windowed_models(fit: Callable[[int, int], Calibration], whole: MarketModel, start_ns: int, end_ns: int,
                    window_s: float) -> tuple[ModelAt, list[dict[str, Any]]]:
    """``model_at`` answering with the model of the arrival's window, and a summary row per window."""
    edges = window_edges(start_ns, end_ns, window_s)
    models: list[MarketModel] = []
    rows: list[dict[str, Any]] = []
    for lo, hi in itertools.pairwise(edges):
        try:
            cal = fit(lo, hi)
        except MarketInputError:
            models.append(whole)
            rows.append({"start": format_ts_ns(lo), "end": format_ts_ns(hi), "events": 0, "fallback": True,
                         "ks_median": None, "ks_max": None, "rate_per_s": None})
            continue
        models.append(cal.model)
        ks = [d.ks_statistic for d in cal.dims if d.fitted]
        rows.append({"start": format_ts_ns(lo), "end": format_ts_ns(hi), "events": int(cal.model.metadata["n_events"]),
                     "fallback": False, "ks_median": float(np.median(ks)), "ks_max": float(max(ks)),
                     "rate_per_s": float(cal.model.metadata["n_events"]) / ((hi - lo) / NS)})

    def model_at(_symbol: str, ts_ns: int) -> tuple[MarketModel, str | None]:
        k = min(max(bisect.bisect_right(edges, ts_ns) - 1, 0), len(models) - 1)
        return models[k], None

    return model_at, rows
