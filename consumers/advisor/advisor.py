"""The advisor as one pure function: (state, controller state, shortfall, now, config) -> advice.

Why one function: everything the processor publishes is decided here, with no I/O, so the property
test can drive it with arbitrary states and configurations and prove that the result is never
looser than the baseline (consumers.advisor.policy). Fallbacks are explicit: a missing, invalid or
stale state yields the baseline unchanged with a ``fallback_reason``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumers.advisor import friction
from consumers.advisor.friction import FrictionConfig
from consumers.advisor.policy import Advice, BaselinePolicy, baseline_advice, intersect
from consumers.common.confighash import config_hash
from consumers.common.decay import NS_PER_S
from streams.settings import advisor_enabled
from torghut_domain.state_view import (
    LIQUIDITY_REGIMES,
    InvalidState,
    StateView,
    parse_state,
)

_REGIME_LEVEL = {regime: level for level, regime in enumerate(LIQUIDITY_REGIMES)}


@dataclass(frozen=True, slots=True)
class AdverseSelectionConfig:
    """adverse_selection_risk = logistic(z), z = bias + w_ofi |OFI| + w_crumb (2 crumb - 1)+
    + w_vol min(max(vol_ratio - 1, 0), 3) + w_regime * level(normal 0, compressed 1, stressed 2).

    One-sided order flow, a crumbling touch, excess volatility and a degraded book all raise the
    chance that a passive fill is followed by an adverse move. The thresholds below turn the score
    into tightening: limit orders and no price improvement, then low urgency. ``flag_threshold``
    (Torghut's 0.85 rejection level) counts an adverse-selection flag.
    """

    # -4.0 (was -3.0), tuned on simulated seeds 1-20: at -3.0, 0.4% of advice records on those ordinary
    # markets scored above Torghut's 0.85 rejection level (0.07% at -3.5, 0.009% at -4.0), mostly
    # because the inputs have high base rates there: the state's "stressed" regime (any book under 800k
    # USD of top-5 depth) adds +1 to z on its own, the crumbling-quote estimate has a median of 0.71.
    bias: float = -4.0
    w_ofi: float = 2.5
    w_crumb: float = 2.0
    w_vol: float = 0.5
    w_regime: float = 0.5
    limit_threshold: float = 0.5
    low_urgency_threshold: float = 0.6
    flag_threshold: float = 0.85


@dataclass(frozen=True, slots=True)
class PassiveFillConfig:
    """When to let a tightened regime turn the order passive: only when a child joining the back of the
    touch is likely to fill.

    A regime's ``order_type="limit"`` saves the spread on what fills, but a passive child behind a long
    queue may not fill at all, even in the 1-3x time Torghut gives a tightened order; then the advice
    buys a cheaper price on a smaller fill. The state's ``fill_hazard`` is the probability that such a
    child fills within ``fill_hazard_horizon_s`` (queue depletion + own-fill correction,
    docs/features.md). It is put on a common horizon, ``reference_horizon_s``, with the exponential
    model the hazard itself assumes: ``p_ref = 1 - (1 - p)^(reference / horizon)``; when ``p_ref <
    min_fill_probability`` the proposal keeps the baseline's order type (market), which is never a
    loosening, and the regime's other tightenings (participation, urgency, turnover) still apply.
    ``min_fill_probability = 0`` turns the rule off (the regime's order type always). The adverse-
    selection rule's limit is not gated: it is a risk response, not a cost one.
    """

    # 0.65, tuned on simulated seeds 1-20 only (microexec/replay/tuning.py; docs/validation.md)
    min_fill_probability: float = 0.65
    reference_horizon_s: float = 60.0

    def validate(self) -> PassiveFillConfig:
        if not (math.isfinite(self.min_fill_probability) and 0.0 <= self.min_fill_probability <= 1.0):
            raise ValueError("min_fill_probability must be in [0, 1]")
        if not (math.isfinite(self.reference_horizon_s) and self.reference_horizon_s > 0):
            raise ValueError("reference_horizon_s must be finite and > 0")
        return self


def passive_fill_probability(fill_hazard: float, horizon_s: float, reference_horizon_s: float) -> float:
    """``fill_hazard`` over ``horizon_s`` as a probability over ``reference_horizon_s``, by the exponential
    (constant-hazard) model: survival ``(1 - p)`` per horizon, so ``(1 - p)^(reference / horizon)``."""
    if fill_hazard >= 1.0:
        return 1.0
    return 1.0 - (1.0 - fill_hazard) ** (reference_horizon_s / horizon_s)


@dataclass(frozen=True, slots=True)
class AdvisorConfig:
    baseline: BaselinePolicy = field(default_factory=BaselinePolicy)
    friction: FrictionConfig = field(default_factory=FrictionConfig)
    adverse: AdverseSelectionConfig = field(default_factory=AdverseSelectionConfig)
    passive: PassiveFillConfig = field(default_factory=PassiveFillConfig)
    # A state older than this (event time, against the advisor's partition clock) gives the baseline.
    max_state_age_s: float = 15.0
    # Simulated shortfall older than this is published but flagged shortfall_source="stale".
    shortfall_max_age_s: float = 3600.0
    enabled: bool = True

    def validate(self) -> AdvisorConfig:
        self.baseline.validate()
        self.friction.validate()
        self.passive.validate()
        if not (self.max_state_age_s > 0 and self.shortfall_max_age_s > 0):
            raise ValueError("max_state_age_s and shortfall_max_age_s must be > 0")
        return self

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of the configuration, for provenance."""
        return config_hash(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> AdvisorConfig:
        """``EXECUTION_ADVISOR_ENABLED`` (default true; parsed by streams.settings, so a typo is an
        error rather than a silent "on") switches advice off; telemetry goes on."""
        return cls(enabled=advisor_enabled(env), **overrides).validate()


def adverse_selection_risk(s: StateView, vol_ratio: float | None, cfg: AdverseSelectionConfig) -> float:
    crumb = 0.0 if s.crumbling is None else max(0.0, 2.0 * s.crumbling - 1.0)
    vol_excess = 0.0 if vol_ratio is None else min(max(vol_ratio - 1.0, 0.0), 3.0)
    z = (cfg.bias + cfg.w_ofi * abs(s.order_flow_imbalance) + cfg.w_crumb * crumb + cfg.w_vol * vol_excess
         + cfg.w_regime * _REGIME_LEVEL[s.liquidity_regime])
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The reference-order shortfall entry chosen for a symbol."""

    p50: float
    p95: float
    simulator_version: str
    event_ts_ns: int


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything the processor publishes except provenance."""

    advice: Advice
    adverse_selection_risk: float
    fallback_reason: str | None
    friction_regime: str | None
    liquidity_regime: str | None
    latency_ms: float
    shortfall: Shortfall | None
    shortfall_source: str
    override_reason: str | None  # label of execution_policy_override_total, None when == baseline


def _fallback(reason: str, cfg: AdvisorConfig, latency_ms: float = 0.0, regime: str | None = None) -> Decision:
    return Decision(baseline_advice(cfg.baseline), 0.0, reason, None, regime, latency_ms, None, "unavailable",
                    reason)


def _shortfall_source(sf: Shortfall | None, now: int, cfg: AdvisorConfig) -> str:
    if sf is None:
        return "unavailable"
    return "stale" if now - sf.event_ts_ns > cfg.shortfall_max_age_s * NS_PER_S else "simulator"


def advise(state: Mapping[str, Any] | None, controller: Mapping[str, Any] | None, now_ns: int,
           shortfall: Shortfall | None, cfg: AdvisorConfig) -> tuple[dict[str, Any] | None, Decision]:
    """Decide the advice for one state observation.

    ``now_ns`` is the advisor's event-time clock (the newest event time seen on the partition); the
    returned controller state is None when the controller was not advanced (fallbacks).
    """
    if state is None:
        return None, _fallback("missing_state", cfg)
    try:
        view = parse_state(state)
    except InvalidState as exc:
        return None, _fallback(f"invalid_state:{exc.field_name}", cfg)
    age_ns = max(0, now_ns - view.event_ts_ns)
    latency_ms = age_ns / 1e6
    if age_ns > cfg.max_state_age_s * NS_PER_S:
        return None, _fallback("stale_state", cfg, latency_ms, view.liquidity_regime)

    ctl, fr = friction.step(controller or friction.new_controller_state(), view.event_ts_ns,
                            view.realized_volatility_bps, view.liquidity_regime, view.spread_bps, cfg.friction)
    risk = adverse_selection_risk(view, fr.vol_ratio, cfg.adverse)
    lim = fr.limits
    order_type, offset, urgency = lim.order_type, lim.quote_offset_bps, lim.urgency_tier
    pc = cfg.passive
    if order_type == "limit" and pc.min_fill_probability > 0 and passive_fill_probability(
            view.fill_hazard, view.fill_hazard_horizon_s, pc.reference_horizon_s) < pc.min_fill_probability:
        order_type = cfg.baseline.order_type  # a passive child would likely not fill: keep the baseline's type
    adverse = risk >= cfg.adverse.limit_threshold
    if adverse:
        order_type, offset = "limit", 0.0
    if risk >= cfg.adverse.low_urgency_threshold:
        urgency = "low"
    proposal = Advice(fr.participation_ceiling, order_type, offset, urgency, lim.turnover_budget)
    advice = intersect(proposal, cfg.baseline)
    override = None
    if advice != baseline_advice(cfg.baseline):
        override = "adverse_selection" if adverse else fr.regime
    return ctl, Decision(advice, risk, None, fr.regime, view.liquidity_regime, latency_ms, shortfall,
                         _shortfall_source(shortfall, now_ns, cfg), override)
