"""Configuration of the state consumer: every window, threshold and emission rule in one frozen object.

Why one object: the processor must be deterministic given (inputs, config), so the config is
immutable, JSON-serialisable and hashable for provenance. Units are in the field names
(``_s`` seconds, ``_bps`` basis points, ``_ms`` milliseconds, ``_ratio`` dimensionless).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegimeThresholds:
    """Enter/exit thresholds of the liquidity regime, as ratios of the current value to its baseline.

    Spread and volatility escalate when the ratio is *at or above* the enter threshold and may relax
    only once it is *below* the exit threshold (exit < enter); depth escalates when the ratio is at
    or below the enter threshold and relaxes above the exit threshold (exit > enter). The gap between
    the two is the hysteresis band.
    """

    compressed_enter_spread_ratio: float = 1.5
    compressed_exit_spread_ratio: float = 1.2
    stressed_enter_spread_ratio: float = 2.5
    stressed_exit_spread_ratio: float = 1.8
    compressed_enter_depth_ratio: float = 0.6
    compressed_exit_depth_ratio: float = 0.75
    stressed_enter_depth_ratio: float = 0.35
    stressed_exit_depth_ratio: float = 0.5
    compressed_enter_vol_ratio: float = 2.0
    compressed_exit_vol_ratio: float = 1.5
    stressed_enter_vol_ratio: float = 3.5
    stressed_exit_vol_ratio: float = 2.5
    # A different regime must be indicated continuously for this long before the switch happens.
    escalate_dwell_s: float = 2.0
    relax_dwell_s: float = 10.0
    # Until baselines have this much history the regime stays "normal" (ratios would be noise).
    warmup_s: float = 30.0

    def validate(self) -> None:
        pairs = (
            (self.compressed_exit_spread_ratio, self.compressed_enter_spread_ratio),
            (self.stressed_exit_spread_ratio, self.stressed_enter_spread_ratio),
            (self.compressed_exit_vol_ratio, self.compressed_enter_vol_ratio),
            (self.stressed_exit_vol_ratio, self.stressed_enter_vol_ratio),
            (self.compressed_enter_depth_ratio, self.compressed_exit_depth_ratio),
            (self.stressed_enter_depth_ratio, self.stressed_exit_depth_ratio),
        )
        for low, high in pairs:
            if not low < high:
                raise ValueError(f"regime hysteresis band is empty or inverted: {low} !< {high}")
        if self.escalate_dwell_s < 0 or self.relax_dwell_s < 0 or self.warmup_s < 0:
            raise ValueError("dwell and warm-up times must be >= 0")


@dataclass(frozen=True, slots=True)
class EmitThresholds:
    """What counts as a material change since the last emitted record, and the heartbeat period."""

    spread_bps_abs: float = 0.5
    spread_rel: float = 0.10
    depth_rel: float = 0.25
    ofi_abs: float = 0.20
    fill_hazard_abs: float = 0.10
    latency_ms_abs: float = 10.0
    latency_rel: float = 0.25
    crumbling_abs: float = 0.20
    # Material changes closer than this (event time) to the last emit wait for the next record after
    # it; top-of-book sizes churn on every quote and the compacted topic only needs the latest value.
    # The first record and regime changes are never delayed.
    min_interval_s: float = 0.25
    # Event-time heartbeat; must stay well under Torghut's 15 s staleness limit.
    heartbeat_s: float = 5.0


@dataclass(frozen=True, slots=True)
class StateConfig:
    # Alpaca equity quote sizes may be in round lots on some feeds: shares = size * multiplier.
    quote_size_multiplier: float = 1.0
    # An L2 snapshot older than this (event time) no longer counts; depth falls back to top of book.
    l2_max_age_s: float = 5.0
    l2_levels: int = 5
    ofi_tau_s: float = 5.0
    vol_tau_s: float = 60.0
    baseline_tau_s: float = 900.0
    trade_rate_tau_s: float = 30.0
    fill_hazard_horizon_s: float = 60.0
    # Our own passive fills: decay of the evidence and strength of the model prior (pseudo-trials).
    own_fill_tau_s: float = 3600.0
    own_fill_prior_strength: float = 5.0
    latency_alpha: float = 0.2
    # Order-based latency samples older than this no longer describe the current path.
    latency_sample_max_age_s: float = 300.0
    regime: RegimeThresholds = RegimeThresholds()
    emit: EmitThresholds = EmitThresholds()
    # A symbol with no input for longer than this (event time) starts again from an empty state, and
    # its key is evicted from the store and the changelog (a tombstone) at the next sweep, so state
    # and restore time stay bounded by the symbols actually trading. Longer than a weekend, so
    # Monday continues Friday; 0 keeps every symbol forever. MICROEXEC_STATE_TTL_S.
    ttl_s: float = 259_200.0
    # Sweeps run when event time crosses a multiple of ttl_s / sweeps_per_ttl (keys live at most
    # ttl_s + one interval).
    sweeps_per_ttl: int = 8

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StateConfig:
        """Defaults, with MICROEXEC_STATE_TTL_S (seconds, >= 0) from the environment."""
        env = os.environ if env is None else env
        raw = env.get("MICROEXEC_STATE_TTL_S", "").strip()
        if not raw:
            return cls().validate()
        try:
            ttl = float(raw)
        except ValueError:
            raise ValueError(f"MICROEXEC_STATE_TTL_S must be a number of seconds, got {raw!r}") from None
        return cls(ttl_s=ttl).validate()

    def validate(self) -> StateConfig:
        positive = {
            "quote_size_multiplier": self.quote_size_multiplier,
            "l2_max_age_s": self.l2_max_age_s,
            "ofi_tau_s": self.ofi_tau_s,
            "vol_tau_s": self.vol_tau_s,
            "baseline_tau_s": self.baseline_tau_s,
            "trade_rate_tau_s": self.trade_rate_tau_s,
            "fill_hazard_horizon_s": self.fill_hazard_horizon_s,
            "own_fill_tau_s": self.own_fill_tau_s,
            "latency_sample_max_age_s": self.latency_sample_max_age_s,
            "heartbeat_s": self.emit.heartbeat_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not 0 < self.latency_alpha <= 1:
            raise ValueError("latency_alpha must be in (0, 1]")
        if not (math.isfinite(self.ttl_s) and self.ttl_s >= 0):
            raise ValueError(f"MICROEXEC_STATE_TTL_S / ttl_s must be >= 0 seconds (0: never evict), got {self.ttl_s}")
        if self.sweeps_per_ttl < 1:
            raise ValueError("sweeps_per_ttl must be >= 1")
        if self.l2_levels < 1 or self.own_fill_prior_strength < 0:
            raise ValueError("l2_levels >= 1 and own_fill_prior_strength >= 0 required")
        self.regime.validate()
        return self
