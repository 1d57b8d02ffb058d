"""Configuration of the simulation consumer, read once from the environment and validated.

Why frozen and read once: every published record must be a function of (inputs, configuration)
so that a rewind reproduces it byte for byte; re-reading the environment per record would let a
changed variable alter a replay. A bad value fails start-up with a ValueError naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

PREFIX = "MICROEXEC_SIM_"


def _float(name: str, default: float, *, low: float | None = None, strict: bool = False) -> float:
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        value = default
    else:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{PREFIX}{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{PREFIX}{name} must be finite, got {value}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{PREFIX}{name} must be {'>' if strict else '>='} {low}, got {value}")
    return value


def _int(name: str, default: int, *, low: int) -> int:
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{PREFIX}{name}={raw!r} is not an integer") from None
    if value < low:
        raise ValueError(f"{PREFIX}{name} must be >= {low}, got {value}")
    return value


def _per_symbol(name: str) -> dict[str, float]:
    """``SYM=value,SYM2=value`` (e.g. ``BTCUSDT=0.01,AAPL=0.01``) -> {symbol: positive float}."""
    raw = os.environ.get(PREFIX + name, "").strip()
    out: dict[str, float] = {}
    if not raw:
        return out
    for item in raw.split(","):
        sym, sep, val = item.strip().partition("=")
        try:
            value = float(val)
        except ValueError:
            value = float("nan")
        if not sep or not sym or not value > 0:
            raise ValueError(f"{PREFIX}{name}: expected SYMBOL=positive number pairs, got {item!r}")
        out[sym.strip()] = value
    return out


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the consumer; units in the names (``_s`` seconds)."""

    window_s: float = 600.0  # rolling window length (event time)
    bucket_s: float = 10.0  # the window is stored as buckets of this length, one state key each
    max_window_events: int = 50_000  # cap on stored events per symbol (oldest buckets go first)
    refit_every_s: float = 60.0  # cadence of refits (event time), warm-started from the last fit
    min_events: int = 500  # fewer mapped quote/trade events in the window: no fit attempted
    max_fit_events: int = 20_000  # newest events used by one fit
    max_fit_iter: int = 200  # optimizer iterations per fit (bounded fit time)
    paths: int = 1000  # Monte Carlo paths per order
    min_paths: int = 100  # fewer affordable paths than this: refuse (status budget_exceeded)
    budget_events: float = 30_000_000.0  # simulated events per order: rate x (horizon + warm-up) x paths
    horizon_s: float = 300.0  # execution horizon of a parent order
    warmup_s: float = 60.0  # market warm-up before each path
    mc_threads: int = 1  # threads for the Monte Carlo and the per-dimension fits (speed only, never results)
    reference_side: str = "buy"
    reference_fraction: float = 0.01  # reference qty = fraction of expected market volume over its horizon
    reference_horizon_s: float = 300.0
    reference_paths: int = 0  # paths of a reference order's Monte Carlo; 0 = ``paths``
    default_regime: str = "normal"  # regime of a symbol before any advice has named one
    baseline_participation: float = 0.1  # the policy when no (fresh) advice is in force
    advice_max_age_s: float = 15.0  # older advice is not in force (Torghut's staleness limit)
    default_tick_size: float = 0.01
    tick_sizes: dict[str, float] = field(default_factory=dict)  # per-symbol overrides
    size_units: dict[str, float] = field(default_factory=dict)  # model size unit per symbol (default 1)

    @classmethod
    def from_env(cls) -> SimulationConfig:
        side = os.environ.get(PREFIX + "REFERENCE_SIDE", "buy").strip() or "buy"
        if side not in ("buy", "sell"):
            raise ValueError(f"{PREFIX}REFERENCE_SIDE must be buy or sell, got {side!r}")
        cfg = cls(
            window_s=_float("WINDOW_S", 600.0, low=0, strict=True),
            bucket_s=_float("BUCKET_S", 10.0, low=0, strict=True),
            max_window_events=_int("MAX_WINDOW_EVENTS", 50_000, low=10),
            refit_every_s=_float("REFIT_EVERY_S", 60.0, low=0, strict=True),
            min_events=_int("MIN_EVENTS", 500, low=20),
            max_fit_events=_int("MAX_FIT_EVENTS", 20_000, low=20),
            max_fit_iter=_int("MAX_FIT_ITER", 200, low=1),
            paths=_int("PATHS", 1000, low=1),
            min_paths=_int("MIN_PATHS", 100, low=1),
            budget_events=_float("BUDGET_EVENTS", 30_000_000.0, low=0, strict=True),
            horizon_s=_float("HORIZON_S", 300.0, low=0, strict=True),
            warmup_s=_float("WARMUP_S", 60.0, low=0),
            mc_threads=_int("MC_THREADS", 1, low=1),
            reference_side=side,
            reference_fraction=_float("REFERENCE_FRACTION", 0.01, low=0, strict=True),
            reference_horizon_s=_float("REFERENCE_HORIZON_S", 300.0, low=0, strict=True),
            reference_paths=_int("REFERENCE_PATHS", 0, low=0),
            default_regime=os.environ.get(PREFIX + "DEFAULT_REGIME", "normal").strip() or "normal",
            baseline_participation=_float("BASELINE_PARTICIPATION", 0.1, low=0, strict=True),
            advice_max_age_s=_float("ADVICE_MAX_AGE_S", 15.0, low=0),
            default_tick_size=_float("TICK_SIZE", 0.01, low=0, strict=True),
            tick_sizes=_per_symbol("TICK_SIZES"),
            size_units=_per_symbol("SIZE_UNITS"),
        )
        return cfg.validate()

    def validate(self) -> SimulationConfig:
        if self.bucket_s > self.window_s:
            raise ValueError(f"{PREFIX}BUCKET_S ({self.bucket_s}) must not exceed {PREFIX}WINDOW_S ({self.window_s})")
        if self.min_paths > self.paths:
            raise ValueError(f"{PREFIX}MIN_PATHS ({self.min_paths}) must not exceed {PREFIX}PATHS ({self.paths})")
        if 0 < self.reference_paths < self.min_paths:
            raise ValueError(f"{PREFIX}REFERENCE_PATHS ({self.reference_paths}) must be 0 (= PATHS) or >= "
                             f"{PREFIX}MIN_PATHS ({self.min_paths})")
        if self.min_events > self.max_window_events:
            raise ValueError(f"{PREFIX}MIN_EVENTS must not exceed {PREFIX}MAX_WINDOW_EVENTS")
        if self.baseline_participation > 1.0:
            raise ValueError(f"{PREFIX}BASELINE_PARTICIPATION must be <= 1, got {self.baseline_participation}")
        if self.reference_fraction > 1.0:
            raise ValueError(f"{PREFIX}REFERENCE_FRACTION must be <= 1, got {self.reference_fraction}")
        return self

    def tick_size(self, symbol: str) -> float | None:
        """Configured tick of ``symbol``; None means: infer it from the window's prices."""
        return self.tick_sizes.get(symbol)

    def size_unit(self, symbol: str) -> float | None:
        """Configured size unit of ``symbol``; None means: infer it from the window's sizes."""
        return self.size_units.get(symbol)
