"""Torghut's order parameters -> the simulator's ExecutionPolicy, for each arm of the split book.

Stable API (the replay report depends on it): :class:`PaperConfig`, :func:`baseline_order`,
:func:`baseline_policy`, :func:`advised_policy`, :func:`no_looser`.

Why a mapping and not ``ExecutionPolicy.from_advice``: the advisor arm must be *bounded by* the
baseline, exactly as Torghut applies advice (TORGHUT.md: advice only tightens). Each field:

* participation cap: ``min(applied.participation_rate, baseline)`` (the client already took the
  min; taken again so a hand-built AppliedAdvice cannot loosen it), then raised to Torghut's floor
  ``min(participation_floor, baseline)`` (0.05) so advice slows an order but never parks it;
* order type: ``limit`` (from the client: it converts market -> limit on ``preferred_order_type
  =limit``) works the parent passively; a passive baseline stays passive whatever the advice;
* quote offset: on a passive advised arm, the advice's ``quote_offset_bps`` (0 when absent), never
  more aggressive than a passive baseline's own offset (``max``); on a marketable advised arm the
  baseline's tolerance is kept (advice quotes passive orders; it cannot widen a market order's
  tolerance);
* urgency: the advised tier is the *slower* of the baseline tier and the advice's tier
  (``TIER_PACE``), so advice can stretch execution (Torghut: 1-3x) but never hurry it, and a
  ``high`` tier (which crosses the spread) only happens when the baseline is ``high``;
* a fallback (``applied=False``) gives the baseline policy unchanged; ``risk_rejected`` changes
  no parameter (the executor records it; Torghut's risk engine, not the policy, acts on it);
* finishing sweep, repricing and latencies are the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.torghut_client.book import AppliedAdvice, BaselineOrder
from simulator.execution.policy import TIER_PACE, ExecutionPolicy

ORDER_TYPES = {"market": "marketable", "limit": "passive"}


@dataclass(frozen=True)
class PaperConfig:
    """The deterministic baseline Torghut would send without advice, and the simulator's knobs."""

    participation_rate: float = 0.10
    order_type: str = "market"  # Torghut's: market | limit
    urgency: str = "normal"
    quote_offset_bps: float = 0.0
    participation_floor: float = 0.05
    finish_marketable: bool = False
    reprice_ticks: int = 2
    decision_interval_s: float = 1.0
    feed_latency_s: float = 0.005
    order_entry_latency_s: float = 0.010

    def __post_init__(self) -> None:
        if not 0.0 < self.participation_rate <= 1.0:
            raise ValueError(f"participation_rate must be in (0, 1], got {self.participation_rate}")
        if self.order_type not in ORDER_TYPES:
            raise ValueError(f"order_type must be market or limit, not {self.order_type!r}")
        if self.urgency not in TIER_PACE:
            raise ValueError(f"urgency must be one of {sorted(TIER_PACE)}, not {self.urgency!r}")
        if not 0.0 <= self.participation_floor <= 1.0:
            raise ValueError("participation_floor must be in [0, 1]")


def baseline_order(cfg: PaperConfig) -> BaselineOrder:
    """What the Torghut client is asked about (``AdviceBook.advice_for``)."""
    return BaselineOrder(cfg.participation_rate, cfg.order_type)


def baseline_policy(cfg: PaperConfig) -> ExecutionPolicy:
    """The baseline arm: the configured order exactly, no advice."""
    return ExecutionPolicy(
        participation_cap=cfg.participation_rate,
        urgency_schedule=((0.0, cfg.urgency),),  # type: ignore[arg-type]
        order_type=ORDER_TYPES[cfg.order_type],  # type: ignore[arg-type]
        quote_offset_bps=cfg.quote_offset_bps,
        reprice_ticks=cfg.reprice_ticks,
        finish_marketable=cfg.finish_marketable,
        decision_interval_s=cfg.decision_interval_s,
        feed_latency_s=cfg.feed_latency_s,
        order_entry_latency_s=cfg.order_entry_latency_s,
    )


def _slower(a: str, b: str | None) -> str:
    if b is None or b not in TIER_PACE:
        return a
    return b if TIER_PACE[b] < TIER_PACE[a] else a


def advised_policy(applied: AppliedAdvice, cfg: PaperConfig) -> ExecutionPolicy:
    """The advisor arm: the baseline tightened by ``applied`` (module docstring has each rule)."""
    base = baseline_policy(cfg)
    if not applied.applied:
        return base
    cap = min(applied.participation_rate, base.participation_cap)
    cap = max(cap, min(cfg.participation_floor, base.participation_cap))
    passive = base.order_type == "passive" or applied.order_type == "limit"
    advice_offset = applied.quote_offset_bps if applied.quote_offset_bps is not None else 0.0
    if passive:
        offset = max(base.quote_offset_bps, advice_offset) if base.order_type == "passive" else advice_offset
    else:
        offset = base.quote_offset_bps
    tier = _slower(cfg.urgency, applied.urgency_tier)
    return ExecutionPolicy(
        participation_cap=cap,
        urgency_schedule=((0.0, tier),),  # type: ignore[arg-type]
        order_type="passive" if passive else "marketable",
        quote_offset_bps=offset,
        reprice_ticks=base.reprice_ticks,
        finish_marketable=base.finish_marketable,
        decision_interval_s=base.decision_interval_s,
        feed_latency_s=base.feed_latency_s,
        order_entry_latency_s=base.order_entry_latency_s,
    )


def no_looser(advised: ExecutionPolicy, baseline: ExecutionPolicy) -> bool:
    """True when ``advised`` is at most as aggressive as ``baseline`` in every parameter.

    Aggressiveness: a higher participation cap; marketable over passive; a faster schedule at any
    step, or one that crosses the spread; a passive quote nearer to (or inside) the spread; a wider
    marketable tolerance; a finishing sweep.
    """
    _, pa, ca = advised.schedule_arrays()
    _, pb, cb = baseline.schedule_arrays()
    if advised.participation_cap > baseline.participation_cap:
        return False
    if baseline.order_type == "passive" and advised.order_type != "passive":
        return False
    if float(pa.max()) > float(pb.min()) or int(ca.max()) > int(cb.min()):
        return False
    same = advised.order_type == baseline.order_type
    nearer = advised.quote_offset_bps < baseline.quote_offset_bps
    wider = advised.quote_offset_bps > baseline.quote_offset_bps
    if same and ((advised.order_type == "passive" and nearer) or (advised.order_type == "marketable" and wider)):
        return False
    return not (advised.finish_marketable and not baseline.finish_marketable)
