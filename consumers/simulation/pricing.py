"""What one parent order would cost: the policy the advice in force describes, the deterministic
budget, the seeded Monte Carlo and the ``shortfall_distribution_v1`` record.

Why the budget is a formula and not a stopwatch: the expected work of a Monte Carlo is known before
it starts (the calibrated model's stationary event rate x (horizon + warm-up) x paths simulated
events), and a rule on that estimate gives the same decision in a live run and in a replay on any
machine, so records stay byte-identical. Measuring wall time would not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from consumers.simulation.config import SimulationConfig
from simulator.execution.policy import TIER_PACE, ExecutionPolicy, ParentOrder
from simulator.market.model import MarketModel
from simulator.montecarlo import MonteCarloResult, shortfall_monte_carlo
from simulator.version import SIMULATOR_VERSION
from streams.timeutil import format_ts_ns

ADVICE = "adv:"
NS = 1_000_000_000

STATUS_OK = "ok"
STATUS_NO_CALIBRATION = "no_calibration"
STATUS_BUDGET = "budget_exceeded"
STATUS_NO_FILLS = "no_fills"


def advice_key(symbol: str) -> str:
    return ADVICE + symbol


@dataclass(frozen=True)
class PolicyChoice:
    policy: ExecutionPolicy
    source: str  # advice | baseline | stale_advice
    advice: dict[str, Any] | None  # the stored advice entry behind it, when one was in force


def policy_for(order_type: str, advice: dict[str, Any] | None, order_ts_ns: int,
               cfg: SimulationConfig) -> PolicyChoice:
    """The policy that works the order: the baseline, tightened by the advice in force.

    As Torghut applies advice: participation ``min(advice, baseline)``; ``limit`` turns a market
    order into a passive one and nothing loosens it; the urgency tier is the advice's. The advice's
    ``quote_offset_bps`` (how far a limit may be *more aggressive* than its own-side touch) becomes
    the simulator's offset with its sign: a passive child rests that far inside the touch (negative
    simulator offset, never crossing), a marketable one tolerates that much beyond the far touch.
    Advice newer than the order, or older than ``advice_max_age_s``, is not in force.
    """
    kind = "marketable" if order_type == "market" else "passive"
    base = ExecutionPolicy.from_advice("normal", cfg.baseline_participation,
                                       "market" if kind == "marketable" else "limit", 0.0)
    if advice is None:
        return PolicyChoice(base, "baseline", None)
    age_ns = order_ts_ns - int(advice["t"])
    if age_ns < 0 or age_ns > cfg.advice_max_age_s * NS:
        return PolicyChoice(base, "stale_advice", advice)
    tier = str(advice["urgency"]) if advice.get("urgency") in TIER_PACE else "normal"
    mpr = advice.get("mpr")
    cap = cfg.baseline_participation if not isinstance(mpr, int | float) or not mpr > 0 \
        else min(float(mpr), cfg.baseline_participation)
    if advice.get("type") == "limit":
        kind = "passive"
    offset = advice.get("offset")
    offset = float(offset) if isinstance(offset, int | float) and math.isfinite(offset) else 0.0
    sim_offset = -offset if kind == "passive" else offset
    policy = ExecutionPolicy.from_advice(tier, cap, "market" if kind == "marketable" else "limit", sim_offset)
    return PolicyChoice(policy, "advice", advice)


def stationary_rate(model: MarketModel) -> float:
    return float(np.sum(model.hawkes.stationary_intensity()))


def affordable_paths(rate: float, horizon_s: float, warmup_s: float, cfg: SimulationConfig,
                     paths: int | None = None) -> int:
    """Paths to run under the budget: all ``paths`` (default ``cfg.paths``) if their estimated work
    fits, else as many as fit, or 0 (refuse) when fewer than ``cfg.min_paths`` would. Pure arithmetic
    on the model and the configuration, so every replay decides the same."""
    wanted = cfg.paths if paths is None else paths
    per_path = rate * (horizon_s + warmup_s)
    if per_path <= 0 or per_path * wanted <= cfg.budget_events:
        return wanted
    n = int(cfg.budget_events // per_path)
    return n if n >= cfg.min_paths else 0


def priced_model(model: MarketModel, mid: float | None) -> MarketModel:
    """The calibrated model moved to the order's arrival: the book starts around the current mid
    (prices, hence bps, scale with it; the calibrated tick size stays)."""
    if mid is None or not mid > 0 or mid == model.ref_price:
        return model
    return replace(model, ref_price=float(mid))


def run_monte_carlo(model: MarketModel, order: ParentOrder, policy: ExecutionPolicy, n_paths: int,
                    calibration_hash: str, warmup_s: float, threads: int) -> MonteCarloResult:
    """Seeded by (order id, calibration hash, simulator version): a replay gives the same bytes."""
    return shortfall_monte_carlo(model, order, policy, n_paths, salt=calibration_hash, warmup_s=warmup_s,
                                 threads=threads)


def shortfall_record(*, order_id: str, symbol: str, side: str, quantity: float, horizon_s: float,
                     event_ts_ns: int, status: str, n_paths_requested: int, result: MonteCarloResult | None,
                     stored_cal: dict[str, Any] | None, choice: PolicyChoice | None, arrival_mid: float | None,
                     work_events: float | None, regime: str | None = None, reference: bool = False,
                     ) -> dict[str, Any]:
    """A ``shortfall_distribution_v1`` value. Figures are real only with ``status == "ok"``; any
    other status carries 0.0 in the required doubles and nulls in the optional ones (documented in
    docs/simulation.md: readers treat the expectation as missing)."""
    ok = result is not None and status == STATUS_OK
    policy = choice.policy if choice is not None else None
    advice = choice.advice if choice is not None else None
    return {
        "order_id": order_id,
        "symbol": symbol,
        "side": side,
        "quantity": float(quantity),
        "horizon_s": float(horizon_s),
        "event_ts": format_ts_ns(event_ts_ns),
        "n_paths": result.n_paths if result is not None else 0,
        "shortfall_bps_p5": result.shortfall_bps_p5 if ok and result else 0.0,
        "shortfall_bps_p50": result.shortfall_bps_p50 if ok and result else 0.0,
        "shortfall_bps_p95": result.shortfall_bps_p95 if ok and result else 0.0,
        "shortfall_bps_mean": result.shortfall_bps_mean if ok and result else 0.0,
        "fill_ratio_mean": result.fill_ratio_mean if result is not None else 0.0,
        "digest": result.digest if result is not None else "",
        "simulator_version": SIMULATOR_VERSION,
        "calibration_id": stored_cal["id"] if stored_cal is not None else None,
        "liquidity_regime": regime,
        "is_reference_order": reference,
        "status": status,
        "n_paths_requested": n_paths_requested,
        "n_unfilled": result.n_unfilled if result is not None else None,
        "fill_ratio_p5": result.fill_ratio_p5 if result is not None else None,
        "fill_ratio_p50": result.fill_ratio_p50 if result is not None else None,
        "fill_ratio_min": result.fill_ratio_min if result is not None else None,
        "calibration_hash": stored_cal["hash"] if stored_cal is not None else None,
        "arrival_mid": arrival_mid,
        "work_events": work_events,
        "advice_source": choice.source if choice is not None else "none",
        "advice_event_ts": format_ts_ns(int(advice["t"])) if advice is not None else None,
        "advice_input_topic": advice.get("topic") if advice is not None else None,
        "advice_input_partition": advice.get("partition") if advice is not None else None,
        "advice_input_offset": advice.get("offset_in") if advice is not None else None,
        "policy_participation_cap": policy.participation_cap if policy is not None else None,
        "policy_order_type": policy.order_type if policy is not None else None,
        "policy_urgency_tier": policy.urgency_schedule[0][1] if policy is not None else None,
        "policy_quote_offset_bps": policy.quote_offset_bps if policy is not None else None,
    }
