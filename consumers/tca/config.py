"""Configuration of the TCA consumer: waits, bounds and drift thresholds in one frozen object.

Why frozen and read once: the processor must be a function of (inputs, config), so the config never
changes while a process runs. Every value can be set by an environment variable (``TCA_*``); a
malformed value is a ValueError that names the variable, at start-up, never a silent default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class TcaConfig:
    # After the completion event, how long (event time, partition clock) to wait for whatever is still
    # missing (distribution, late fills, the first quote after submit) before emitting with what we have.
    wait_s: float = 30.0
    # An order with no completion is evicted (and counted) this long after its last event.
    order_ttl_s: float = 8 * 3600.0
    # An emitted order's marker (which refuses a second emission and counts late distributions) is
    # kept this long after emission.
    done_retention_s: float = 8 * 3600.0
    # Orders (pending, waiting or emitted markers) tracked per partition; beyond it the entry with the
    # earliest deadline is expired early, as if its deadline had passed (counted as "capacity").
    max_orders: int = 20_000
    # Fills kept per order (each is needed to de-duplicate redelivered updates); more is refused (DLQ).
    max_fills_per_order: int = 2_000
    # Mid changes kept per symbol to answer "mid at submitted_at" for orders seen after later quotes.
    quote_history: int = 256
    # Regime changes kept per symbol (regime at arrival).
    regime_history: int = 64
    # Drift windows: tumbling, per symbol, of this many orders that have a distribution.
    window_orders: int = 10
    # A window drifts when its mean |divergence| exceeds this (Torghut's autonomy gate: 12 bps) ...
    drift_tolerance_bps: float = 12.0
    # ... and this many consecutive drifting windows set recalibration_requested on the record that
    # closes the last of them.
    drift_windows: int = 3
    # Relative tolerance when cross-checking summed fills against the order's filled_qty.
    qty_tolerance: float = 1e-9
    # Metric label bounds: distinct symbols / strategies per process before labels become "other".
    metric_max_symbols: int = 500
    metric_max_strategies: int = 20

    @property
    def wait_ns(self) -> int:
        return int(self.wait_s * NS_PER_S)

    @property
    def order_ttl_ns(self) -> int:
        return int(self.order_ttl_s * NS_PER_S)

    @property
    def done_retention_ns(self) -> int:
        return int(self.done_retention_s * NS_PER_S)

    def validate(self) -> TcaConfig:
        for name, value in ((f.name, getattr(self, f.name)) for f in fields(self)):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{env_name(name)}={value} is not finite")
        if self.wait_s < 0:
            raise ValueError(f"{env_name('wait_s')} must be >= 0, not {self.wait_s}")
        for name in ("order_ttl_s", "done_retention_s", "drift_tolerance_bps", "qty_tolerance"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{env_name(name)} must be > 0, not {getattr(self, name)}")
        if self.order_ttl_s < self.wait_s:
            raise ValueError(f"{env_name('order_ttl_s')} must be >= {env_name('wait_s')}")
        for name in ("max_orders", "max_fills_per_order", "quote_history", "regime_history", "window_orders",
                     "drift_windows", "metric_max_symbols", "metric_max_strategies"):
            if getattr(self, name) < 1:
                raise ValueError(f"{env_name(name)} must be >= 1, not {getattr(self, name)}")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> TcaConfig:
        """Read ``TCA_<FIELD>`` (upper case) for every field; unset or empty keeps the default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name), "").strip()
            if not raw:
                continue
            kind = int if f.type in (int, "int") else float
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{env_name(f.name)}={raw!r} is not a valid {kind.__name__}") from None
        values.update(overrides)
        return cls(**values).validate()


def env_name(field_name: str) -> str:
    return f"TCA_{field_name.upper()}"
