"""FrictionRegimeController, FR-LUX style (arXiv 2510.02986).

FR-LUX conditions an execution policy on a volatility x liquidity regime (its LL/LH/HL/HH states)
and keeps policy updates inside a trade-space trust region so turnover stays low and stable. Here,
deterministically and without learning:

* two binary axes, each with hysteresis (separate enter/exit thresholds) and a dwell time in event
  time: *volatile* when realized volatility is high against its own slow baseline, *illiquid* when
  the state's liquidity regime is compressed/stressed or the spread is wide;
* four regimes ``calm_liquid``, ``calm_illiquid``, ``volatile_liquid``, ``volatile_illiquid``, each
  with configured limits (participation ceiling, turnover budget, urgency, order type, quote
  offset); ``volatile_illiquid`` has a second set for a very wide spread (``wide_spread_bps``);
* the trust region: the participation ceiling follows its regime target at a capped slope (at most
  ``ceiling_down_per_s`` / ``ceiling_up_per_s`` per second of event time), so a regime flip moves
  the ceiling gradually, not in one jump. Tightening is allowed to be faster than loosening.

The controller's state is a flat JSON dict (it lives in the advisor's keyed state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from consumers.common.decay import NS_PER_S, decay_factor

# Bump when keys are added to new_controller_state(); older changelog states are upgraded on load.
CONTROLLER_LAYOUT_VERSION = 1
REGIMES = ("calm_liquid", "calm_illiquid", "volatile_liquid", "volatile_illiquid")


@dataclass(frozen=True, slots=True)
class RegimeLimits:
    """Per-regime limits; ``turnover_budget`` is a fraction of ADV per day."""

    participation_ceiling: float
    turnover_budget: float
    urgency_tier: str
    order_type: str
    quote_offset_bps: float


@dataclass(frozen=True, slots=True)
class FrictionConfig:
    # Tuned on simulated seeds 1-20 only (docs/validation.md): every tightened regime works the order
    # passively at the touch (offset 0: join, never improve; improving inside the wide simulated spreads
    # filled little more and was picked off) and slows it by the same 2x, which Torghut turns into 2x
    # the execution time. Illiquid-and-volatile keeps the baseline's cap but the low tier, so it can
    # still take volume early; 2% (the old value) was floored to Torghut's 5% anyway. The advisor keeps the
    # baseline's market type instead of "limit" when a passive child is unlikely to fill (advisor.py
    # PassiveFillConfig, by the state's fill_hazard).
    calm_liquid: RegimeLimits = RegimeLimits(0.10, 0.25, "normal", "market", 3.0)
    calm_illiquid: RegimeLimits = RegimeLimits(0.05, 0.12, "normal", "limit", 0.0)
    volatile_liquid: RegimeLimits = RegimeLimits(0.05, 0.15, "normal", "limit", 0.0)
    volatile_illiquid: RegimeLimits = RegimeLimits(0.10, 0.05, "low", "limit", 0.0)
    # volatile_illiquid with a very wide spread (>= wide_spread_bps): the same 2x slow-down, but spread
    # evenly (5% at normal pace) instead of front-loaded (10% at low pace). In a wide, fast book a passive
    # quantity posted early is taken quickly and then run over; on seeds 1-20 the front-loaded limits
    # filled 9 points more than the baseline in shock segments and the even ones 5 points less in calm.
    volatile_illiquid_wide: RegimeLimits = RegimeLimits(0.05, 0.05, "normal", "limit", 0.0)
    wide_spread_bps: float = 25.0
    # Volatility axis: realized_volatility_bps over its time-weighted baseline (tau below).
    vol_baseline_tau_s: float = 1800.0
    vol_warmup_s: float = 60.0
    volatile_enter_ratio: float = 1.5
    volatile_exit_ratio: float = 1.2
    # Liquidity axis: the state's regime (compressed/stressed = illiquid) or a wide spread.
    illiquid_enter_spread_bps: float = 8.0
    illiquid_exit_spread_bps: float = 6.0
    escalate_dwell_s: float = 2.0
    relax_dwell_s: float = 10.0
    # Trust region on the participation ceiling, fraction of volume per second of event time.
    ceiling_down_per_s: float = 0.02
    ceiling_up_per_s: float = 0.005

    def limits(self, regime: str) -> RegimeLimits:
        limits: RegimeLimits = getattr(self, regime)
        return limits

    def validate(self) -> FrictionConfig:
        for regime in (*REGIMES, "volatile_illiquid_wide"):
            lim = self.limits(regime)
            for value in (lim.participation_ceiling, lim.turnover_budget, lim.quote_offset_bps):
                if not (math.isfinite(value) and value >= 0):
                    raise ValueError(f"{regime}: limits must be finite and >= 0")
        if not self.volatile_exit_ratio < self.volatile_enter_ratio:
            raise ValueError("volatile_exit_ratio must be < volatile_enter_ratio")
        if not self.illiquid_exit_spread_bps < self.illiquid_enter_spread_bps:
            raise ValueError("illiquid_exit_spread_bps must be < illiquid_enter_spread_bps")
        for name in ("vol_baseline_tau_s", "ceiling_down_per_s", "ceiling_up_per_s", "wide_spread_bps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if min(self.vol_warmup_s, self.escalate_dwell_s, self.relax_dwell_s) < 0:
            raise ValueError("warm-up and dwell times must be >= 0")
        return self


@dataclass(frozen=True, slots=True)
class FrictionDecision:
    regime: str
    participation_ceiling: float  # slope-capped
    limits: RegimeLimits
    vol_ratio: float | None


def new_controller_state() -> dict[str, Any]:
    return {"v": CONTROLLER_LAYOUT_VERSION, "vol": 0, "vd": 0, "vt": 0, "liq": 0, "ld": 0, "lt": 0, "ceil": None,
            "ceil_t": 0, "vb_s": 0.0, "vb_w": 0.0, "vb_t": None, "v_first": None, "v_held": None}


def _axis(current: int, indicated: int, pend_dir: int, pend_t: int, now: int, cfg: FrictionConfig
          ) -> tuple[int, int, int]:
    """Binary hysteresis axis with dwell: returns (value, pending direction, pending since)."""
    if indicated == current:
        return current, 0, 0
    direction = 1 if indicated > current else -1
    if pend_dir != direction:
        pend_dir, pend_t = direction, now
    dwell = cfg.escalate_dwell_s if direction > 0 else cfg.relax_dwell_s
    if now - pend_t >= dwell * NS_PER_S:
        return indicated, 0, 0
    return current, pend_dir, pend_t


def step(ctl: Mapping[str, Any], now: int, vol_bps: float | None, liquidity_regime: str, spread_bps: float,
         cfg: FrictionConfig) -> tuple[dict[str, Any], FrictionDecision]:
    """Advance the controller to event time ``now`` with one state observation (pure)."""
    c = dict(ctl) if ctl.get("v") == CONTROLLER_LAYOUT_VERSION else {**new_controller_state(), **ctl,
                                                                       "v": CONTROLLER_LAYOUT_VERSION}
    # Volatility baseline: time-weighted, bias-corrected mean of the held realized volatility.
    if c["vb_t"] is not None and now > c["vb_t"] and c["v_held"] is not None:
        d = decay_factor(now - c["vb_t"], cfg.vol_baseline_tau_s)
        c["vb_s"] = c["vb_s"] * d + (1.0 - d) * c["v_held"]
        c["vb_w"] = c["vb_w"] * d + (1.0 - d)
    if c["vb_t"] is None or now > c["vb_t"]:
        c["vb_t"] = now
    if vol_bps is not None:
        c["v_held"] = vol_bps
        if c["v_first"] is None:
            c["v_first"] = now
    vol_ratio = None
    if vol_bps is not None and c["vb_w"] > 0 and now - c["v_first"] >= cfg.vol_warmup_s * NS_PER_S:
        base = c["vb_s"] / c["vb_w"]
        vol_ratio = vol_bps / base if base > 0 else None
    if vol_ratio is None:
        vol_ind = c["vol"]  # no evidence either way: keep the current reading
    else:
        vol_ind = int(vol_ratio >= (cfg.volatile_exit_ratio if c["vol"] else cfg.volatile_enter_ratio))
    c["vol"], c["vd"], c["vt"] = _axis(c["vol"], vol_ind, c["vd"], c["vt"], now, cfg)

    spread_th = cfg.illiquid_exit_spread_bps if c["liq"] else cfg.illiquid_enter_spread_bps
    liq_ind = int(liquidity_regime != "normal" or spread_bps >= spread_th)
    c["liq"], c["ld"], c["lt"] = _axis(c["liq"], liq_ind, c["ld"], c["lt"], now, cfg)

    regime = REGIMES[2 * c["vol"] + c["liq"]]
    limits = cfg.limits(regime)
    if regime == "volatile_illiquid" and spread_bps >= cfg.wide_spread_bps:
        limits = cfg.volatile_illiquid_wide  # same regime, limits for a very wide book (see the config)
    target = limits.participation_ceiling
    if c["ceil"] is None or not math.isfinite(c["ceil"]):
        c["ceil"] = target
    else:
        dt_s = max(0, now - c["ceil_t"]) / NS_PER_S
        move = target - c["ceil"]
        move = max(-cfg.ceiling_down_per_s * dt_s, min(cfg.ceiling_up_per_s * dt_s, move))
        c["ceil"] = c["ceil"] + move
    c["ceil_t"] = max(now, c["ceil_t"])
    return c, FrictionDecision(regime, c["ceil"], limits, vol_ratio)
