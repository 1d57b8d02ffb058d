"""Thresholds of the three alerts, from environment variables, validated once at start-up.

Why environment variables and a frozen object: operations tune thresholds per deployment without
a code change, and the processor must stay deterministic given (inputs, config), so the config is
read once, never per record. A bad value fails the start with a ValueError that names the
variable (``microexec run alerts`` exits 2 with it), rather than alerting on nonsense later.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

PREFIX = "MICROEXEC_ALERT_"


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Defaults follow Torghut: its autonomy gate rejects a mean |divergence| over 12 bps and needs 6
    samples per symbol; it rejects advice with adverse_selection_risk over 0.85; it ignores state
    older than 15 s. Units are in the names (``_s`` seconds, ``_bps`` basis points)."""

    # tca_divergence_breach: mean |divergence_bps| of each window of N completed orders of a symbol
    # over the threshold for K consecutive windows fires; one window at or under it resolves.
    divergence_threshold_bps: float = 12.0
    divergence_window_orders: int = 6
    divergence_windows: int = 3
    # adverse_selection_spike: per symbol and event-time window (tumbling, aligned on the epoch),
    # flags (advice with adverse_selection_risk over the flag threshold) per minute over the rate
    # threshold while every advice of the window kept max_participation_rate over the participation
    # threshold fires; a closed window that does not breach resolves.
    adverse_flag_threshold: float = 0.85
    adverse_window_s: float = 60.0
    adverse_flags_per_min: float = 5.0
    adverse_min_participation: float = 0.05
    # advice_stream_stale, event time: a symbol's state moved on this far past its newest advice.
    advice_timeout_s: float = 15.0
    # advice_stream_stale, wall clock: no advice at all on an input partition for this long.
    stream_timeout_s: float = 60.0
    # How often the runtime's wall-clock timer runs (``punctuate``); well under stream_timeout_s.
    punctuate_interval_s: float = 1.0

    def validate(self) -> AlertsConfig:
        """Raise ValueError naming the environment variable of the first bad field."""
        positive = ("divergence_threshold_bps", "adverse_window_s", "adverse_flags_per_min", "advice_timeout_s",
                    "stream_timeout_s", "punctuate_interval_s")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{env_name(name)}={value!r} must be a finite number > 0")
        for name in ("divergence_window_orders", "divergence_windows"):
            value = getattr(self, name)
            if not 1 <= value <= 10_000:
                raise ValueError(f"{env_name(name)}={value!r} must be an integer in [1, 10000]")
        for name in ("adverse_flag_threshold", "adverse_min_participation"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"{env_name(name)}={value!r} must be in [0, 1]")
        if self.punctuate_interval_s > self.stream_timeout_s / 2:
            raise ValueError(f"{env_name('punctuate_interval_s')}={self.punctuate_interval_s} must be at most half "
                             f"of {env_name('stream_timeout_s')}={self.stream_timeout_s}, or staleness is seen late")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertsConfig:
        """Each field from ``MICROEXEC_ALERT_<FIELD>`` (upper case) when set and not empty."""
        env = os.environ if env is None else env
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name), "").strip()
            if not raw:
                continue
            try:
                values[f.name] = int(raw) if f.type in ("int", int) else float(raw)
            except ValueError:
                kind = "an integer" if f.type in ("int", int) else "a number"
                raise ValueError(f"{env_name(f.name)}={raw!r} is not {kind}") from None
        return cls(**values).validate()  # type: ignore[arg-type]


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()
