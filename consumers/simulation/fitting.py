"""A symbol's window -> a fitted market model, the state entry that keeps it, and its record.

Why the model is kept in keyed state as JSON (``cal:<symbol>``) rather than in memory: the Monte
Carlo of every later order must use exactly the model that was published, also after a restart or
on another instance that takes the partition over; JSON floats round-trip exactly, so the model
rebuilt from state is bit-identical to the fitted one and so are the paths simulated on it.

Fits are bounded: at most ``max_fit_events`` newest events and ``max_fit_iter`` optimizer
iterations, one thread. A refit starts from the previous fit (``fit(init=...)``) when the same
dimensions are active, so a cadence refit on a window that barely moved converges in a few steps.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from consumers.simulation.window import as_envelopes
from simulator.calibration.calibrate import MIN_EVENTS, Calibration, calibrate
from simulator.calibration.torghut import TorghutFormatError, flow_from_envelopes
from simulator.hawkes.params import HawkesParams
from simulator.market.model import MarketModel
from simulator.market.types import DIM_NAMES, N_DIMS
from simulator.version import SIMULATOR_VERSION
from streams.timeutil import format_ts_ns

CAL = "cal:"
KS_NOT_FITTED = -1.0  # ks_statistic / ks_pvalue of a dimension with too few events to fit (never NaN)


class FitFailure(Exception):
    """The window cannot be fitted; ``reason`` is a stable slug for logs and the outcome metric."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Fitted:
    calibration: Calibration
    stored: dict[str, Any]  # the ``cal:<symbol>`` state entry
    warm_started: bool


def cal_key(symbol: str) -> str:
    return CAL + symbol


def model_json(model: MarketModel) -> dict[str, Any]:
    """The model as stored and hashed: ``to_dict`` with metadata cut to what is JSON-safe and stable
    (the fit diagnostics may hold NaN, which the strict-JSON changelog refuses)."""
    data = model.to_dict()
    data["metadata"] = {"symbol": model.metadata.get("symbol", ""), "simulator_version": SIMULATOR_VERSION}
    data["marks"] = [_finite_only(m) for m in data["marks"]]
    return json.loads(json.dumps(data, allow_nan=False))  # plain lists/floats only


def _finite_only(mark: dict[str, Any]) -> dict[str, Any]:
    """A mark dict without its NaN entries (an empirical law has no log_mean/log_sd; from_dict
    defaults them back to NaN), so it is strict JSON."""
    return {k: v for k, v in mark.items() if not (isinstance(v, float) and not np.isfinite(v))}


def parameter_hash(model_dict: dict[str, Any]) -> str:
    text = json.dumps(model_dict, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _active(counts: np.ndarray) -> list[int]:
    return [i for i in range(N_DIMS) if counts[i] >= MIN_EVENTS]  # calibrate()'s own rule


def _warm_start(previous: dict[str, Any] | None, active: list[int]) -> HawkesParams | None:
    if previous is None or list(previous.get("active", [])) != active:
        return None
    hp = previous["model"]["hawkes"]
    idx = np.asarray(active)
    mu, alpha, beta = np.asarray(hp["mu"]), np.asarray(hp["alpha"]), np.asarray(hp["beta"])
    return HawkesParams(mu[idx], alpha[np.ix_(idx, idx)], beta[np.ix_(idx, idx)])


def fit_window(symbol: str, events: list[list[Any]], previous: dict[str, Any] | None, *, tick_size: float,
               size_unit: float, max_iter: int, threads: int = 1) -> Fitted:
    """Fit the window's events; raises FitFailure (never anything else) when it cannot be done.

    ``threads`` fits the dimensions' rows in parallel: each row's likelihood is separate, so the
    result is the same for any count; a refit blocks the consumer, so it may as well use the cores.
    """
    try:
        flow = flow_from_envelopes(as_envelopes(symbol, events), tick_size=tick_size, size_unit=size_unit,
                                   source=f"window:{symbol}")
    except TorghutFormatError as exc:
        raise FitFailure("unmappable_window", str(exc)) from None
    active = _active(flow.counts())
    if len(active) < 2:
        raise FitFailure("too_few_event_types", f"{len(active)} event types with >= {MIN_EVENTS} events")
    init = _warm_start(previous, active)
    kwargs: dict[str, Any] = {"max_iter": max_iter, "start_iter": min(20, max_iter), "n_threads": threads}
    if init is not None:
        kwargs["init"] = init
    try:
        cal = calibrate(flow, fit_kwargs=kwargs)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        raise FitFailure("degenerate_window", str(exc)) from None
    if not np.all(np.isfinite(cal.model.hawkes.stationary_intensity())):
        raise FitFailure("degenerate_window", "non-finite stationary intensity")
    stored_model = model_json(cal.model)
    t0_ns, t1_ns = int(events[0][0]), int(events[-1][0])
    stored: dict[str, Any] = {
        "model": stored_model,
        "hash": parameter_hash(stored_model),
        "active": cal.active,
        "window_start_ns": t0_ns,
        "window_end_ns": t1_ns,
        "n_events": len(flow),
        "size_unit": size_unit,  # an order's quantity is counted in this unit against this model
    }
    stored["id"] = (f"{symbol}:{format_ts_ns(t0_ns)}/{format_ts_ns(t1_ns)}:"
                    f"{SIMULATOR_VERSION}")
    return Fitted(cal, stored, init is not None)


def calibration_record(symbol: str, fitted: Fitted, trigger: str) -> dict[str, Any]:
    """The ``hawkes_calibration_v1`` value of a fit."""
    cal, stored = fitted.calibration, fitted.stored
    hp = cal.model.hawkes
    ks = [d.ks_statistic if d.fitted else KS_NOT_FITTED for d in cal.dims]
    pv = [d.ks_pvalue if d.fitted else KS_NOT_FITTED for d in cal.dims]
    marks = {DIM_NAMES[i]: _finite_only(m.to_dict()) for i, m in enumerate(cal.model.marks)}
    window_s = (stored["window_end_ns"] - stored["window_start_ns"]) / 1e9
    return {
        "symbol": symbol,
        "calibration_id": stored["id"],
        "event_ts": format_ts_ns(stored["window_end_ns"]),
        "window_start": format_ts_ns(stored["window_start_ns"]),
        "n_events": int(stored["n_events"]),
        "dimensions": list(DIM_NAMES),
        "mu": [float(x) for x in hp.mu],
        "alpha": [[float(x) for x in row] for row in hp.alpha],
        "beta": [[float(x) for x in row] for row in hp.beta],
        "spectral_radius": float(hp.spectral_radius()),
        "log_likelihood": float(cal.fit.loglik),
        "ks_statistic": [float(x) for x in ks],
        "ks_pvalue": [float(x) for x in pv],
        "converged": bool(cal.fit.converged),
        "tick_size": float(cal.model.tick_size),
        "marks_json": json.dumps(marks, sort_keys=True, separators=(",", ":")),
        "simulator_version": SIMULATOR_VERSION,
        "parameter_hash": stored["hash"],
        "window_s": float(window_s),
        "warm_started": fitted.warm_started,
        "trigger": trigger,
        "stationary_rate": float(np.sum(hp.stationary_intensity())),
        "fitted_dimensions": [bool(d.fitted) for d in cal.dims],
    }


class ModelCache:
    """Models rebuilt from stored calibrations, by parameter hash (a bounded LRU: rebuilding costs a
    few ms, an order stream asks for the same few models again and again)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._models: OrderedDict[str, MarketModel] = OrderedDict()

    def get(self, stored: dict[str, Any]) -> MarketModel:
        h = stored["hash"]
        model = self._models.get(h)
        if model is None:
            model = MarketModel.from_dict(stored["model"])
            self._models[h] = model
            if len(self._models) > self._size:
                self._models.popitem(last=False)
        else:
            self._models.move_to_end(h)
        return model
