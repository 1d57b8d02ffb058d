"""The compiled fold's configuration as a typed record: ``FoldConfig``, one named float64 per setting.

Why a numpy structured record and not the StateConfig dataclass or a NamedTuple: numba compiles
``c.ofi_tau_s`` on a record to a load at a fixed offset, and unboxes a one-element record array in
well under a microsecond per call (a 36-field NamedTuple took ~2.4 us, which the per-record path
would pay on every quote). Each field is the exact expression the reference fold computes from
StateConfig (times converted to ns the same way), so both give bit-identical results.
"""

from __future__ import annotations

import numpy as np

from consumers.state.config import StateConfig

NS = 1_000_000_000


def _config_fields(cfg: StateConfig) -> dict[str, float]:
    """The fold's settings by name, each the exact expression the reference computes (times in ns)."""
    r, e = cfg.regime, cfg.emit
    return {
        "latency_alpha": cfg.latency_alpha,
        "quote_size_multiplier": cfg.quote_size_multiplier,
        "ofi_tau_s": cfg.ofi_tau_s,
        "vol_tau_s": cfg.vol_tau_s,
        "baseline_tau_s": cfg.baseline_tau_s,
        "l2_max_age_ns": cfg.l2_max_age_s * NS,
        "warmup_ns": r.warmup_s * NS,
        "escalate_dwell_ns": r.escalate_dwell_s * NS,
        "relax_dwell_ns": r.relax_dwell_s * NS,
        "min_interval_ns": e.min_interval_s * NS,
        "heartbeat_ns": e.heartbeat_s * NS,
        "latency_sample_max_age_ns": cfg.latency_sample_max_age_s * NS,
        "trade_rate_tau_s": cfg.trade_rate_tau_s,
        "fill_hazard_horizon_s": cfg.fill_hazard_horizon_s,
        "own_fill_tau_s": cfg.own_fill_tau_s,
        "own_fill_prior_strength": cfg.own_fill_prior_strength,
        "stressed_enter_spread_ratio": r.stressed_enter_spread_ratio,
        "stressed_enter_depth_ratio": r.stressed_enter_depth_ratio,
        "stressed_enter_vol_ratio": r.stressed_enter_vol_ratio,
        "stressed_exit_spread_ratio": r.stressed_exit_spread_ratio,
        "stressed_exit_depth_ratio": r.stressed_exit_depth_ratio,
        "stressed_exit_vol_ratio": r.stressed_exit_vol_ratio,
        "compressed_enter_spread_ratio": r.compressed_enter_spread_ratio,
        "compressed_enter_depth_ratio": r.compressed_enter_depth_ratio,
        "compressed_enter_vol_ratio": r.compressed_enter_vol_ratio,
        "compressed_exit_spread_ratio": r.compressed_exit_spread_ratio,
        "compressed_exit_depth_ratio": r.compressed_exit_depth_ratio,
        "compressed_exit_vol_ratio": r.compressed_exit_vol_ratio,
        "depth_rel": e.depth_rel,
        "crumbling_abs": e.crumbling_abs,
        "spread_bps_abs": e.spread_bps_abs,
        "spread_rel": e.spread_rel,
        "ofi_abs": e.ofi_abs,
        "fill_hazard_abs": e.fill_hazard_abs,
        "latency_ms_abs": e.latency_ms_abs,
        "latency_rel": e.latency_rel,
        "ttl_ns": cfg.ttl_s * NS,
    }


FoldConfig = np.dtype([(name, np.float64) for name in _config_fields(StateConfig())])


def fold_config(cfg: StateConfig) -> np.ndarray:
    """The configuration as the loop reads it: a one-element array of ``FoldConfig`` (an array, not
    a bare record, because numba unboxes an array argument in a fraction of a microsecond)."""
    fields = _config_fields(cfg)
    record = np.zeros(1, dtype=FoldConfig)
    for name, value in fields.items():
        record[name] = value
    return record
