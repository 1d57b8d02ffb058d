"""Torghut's order parameters -> the simulator's ExecutionPolicy, for each arm of the split book.

Stable API (the replay report depends on it): :class:`PaperConfig`, :func:`baseline_order`, :func:`advised_catch_up`,
:func:`baseline_policy`, :func:`advised_policy`, :func:`no_looser`.

Why a mapping and not ``ExecutionPolicy.from_advice``: the advisor arm must be *bounded by* the
baseline, exactly as Torghut applies advice (TORGHUT.md: advice only tightens). Each field:

* participation cap: ``min(applied.participation_rate, baseline)`` (the client already took the
  min; taken again so a hand-built AppliedAdvice cannot loosen it), then raised to Torghut's floor
  ``min(participation_floor, baseline)`` (0.05) so advice slows an order but never parks it;
* order type: ``limit`` (from the client: it converts market -> limit on ``preferred_order_type
  =limit``) works the parent passively; a passive baseline stays passive whatever the advice;
* quote offset: the advice's ``quote_offset_bps`` is, by its own definition
  (consumers/advisor/policy.py), how far a limit may be priced *more aggressively than the same-side
  touch*: 0 joins the touch, 1.0 improves it by up to 1 bp. The simulator's offset has the opposite
  sign (positive = further from the spread), so a passive advised arm rests at ``-max(advice, 0)``
  (0 when absent; the engine never lets it cross), never more aggressive than a passive baseline's
  own offset (``max``); on a marketable advised arm the baseline's tolerance is kept (advice quotes
  passive orders; it cannot widen a market order's tolerance). (Until this was fixed the advice's
  1 bp allowance was executed as 1 bp *behind* the touch.)
* urgency: the advised tier is the *slower* of the baseline tier and the advice's tier
  (``TIER_PACE``), so advice can stretch execution (Torghut: 1-3x) but never hurry it, and a
  ``high`` tier (which crosses the spread) only happens when the baseline is ``high``;
* a fallback (``applied=False``) gives the baseline policy unchanged; ``risk_rejected`` changes
  no parameter (the executor records it; Torghut's risk engine, not the policy, acts on it);
* finishing sweep, repricing and latencies are the baseline's.

:func:`advised_execution` adds the *time* Torghut gives a tightened order (TORGHUT.md: "participation
floor 0.05, execution time stretched 1-3x"): the horizon is stretched by the factor the tightening
slows the order down, ``clip((baseline cap / advised cap) * (baseline pace / advised pace), 1, 3)``,
so a slower order is not judged at a deadline it was never given. When the stretch covers the slower
tier (``stretch >= baseline pace / advised pace``) the schedule runs at the baseline tier over the
stretched horizon: the "low" tier is then expressed as time (half pace = twice the time), instead of
a target that stops at half the order at the old deadline. In wall time the advised target curve is
never steeper than the baseline's nor than the advice's own tier (``pace / stretch`` is at most both),
the cap is never higher, and passive conversion alone stretches nothing.

:func:`advised_catch_up` adds how a passive advised arm keeps up with that schedule (the engine's
passive-with-catch-up, simulator/execution/catchup.py): when its fill falls more than
``CATCH_UP.tolerance`` of the order behind the advised schedule, the deficit beyond that crosses. What
keeps it within "advice only tightens": it crosses only the deficit against the *advised* schedule
(cap included) and cancels its youngest resting children first, so the arm is never ahead of that
schedule, which in wall time is never steeper than the baseline's; it crosses at the baseline's own
marketable tolerance (``split_book.execute_arms``), never more aggressively; and only a marketable
baseline's advised arm gets it (a passive baseline stays passive; a marketable advised arm crosses
already, at the advised pace). Its spread gate only ever holds a cross back (while the spread is wider
than the one the order has seen), so it can only make the arm less aggressive, never more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from simulator.execution.catchup import CatchUp
from simulator.execution.policy import TIER_PACE, ExecutionPolicy
from torghut_client import AppliedAdvice, BaselineOrder

ORDER_TYPES = {"market": "marketable", "limit": "passive"}
MAX_STRETCH = 3.0  # Torghut stretches execution time 1-3x when it tightens (TORGHUT.md)
# Chosen on the tuning seeds 1-20 only (python -m microexec.replay.tuning --catch-up, then --gate for the
# spread gate with the tolerance around it; docs/replay.md). Session 8's --joint grid (with the passive-fill
# threshold and a tolerance taper, CatchUp.end_tolerance) found no candidate its fixed rule admits: kept.
CATCH_UP = CatchUp(tolerance=0.1, final=0.0, spread_gate=1.0, gate_deadline=1.0, gate_memory_s=60.0)


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
    catch_up: CatchUp | None = CATCH_UP  # the advised arm's passive-with-catch-up rule; None = off

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
    allowance = applied.quote_offset_bps if applied.quote_offset_bps is not None else 0.0
    advice_offset = -max(allowance, 0.0) if math.isfinite(allowance) else 0.0  # simulator sign: - = improve
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


def advised_execution(applied: AppliedAdvice, cfg: PaperConfig) -> tuple[ExecutionPolicy, float]:
    """(advised policy, horizon stretch): :func:`advised_policy` plus the time Torghut gives a
    tightened order (module docstring). A fallback or an advice that does not slow the order gives
    a stretch of 1; the baseline arm always runs its own horizon."""
    policy = advised_policy(applied, cfg)
    if not applied.applied:
        return policy, 1.0
    base = baseline_policy(cfg)
    pace_b = float(base.schedule_arrays()[1].min())
    pace_a = float(policy.schedule_arrays()[1].max())
    cap_a = policy.participation_cap
    slow = (base.participation_cap / cap_a if cap_a > 0 else MAX_STRETCH) * (pace_b / pace_a)
    stretch = min(MAX_STRETCH, max(1.0, slow))
    if pace_a < pace_b and stretch >= pace_b / pace_a - 1e-12:
        policy = replace(policy, urgency_schedule=base.urgency_schedule)
    return policy, stretch


def advised_catch_up(policy: ExecutionPolicy, cfg: PaperConfig) -> CatchUp | None:
    """The catch-up the advised arm works with (simulator/execution/catchup.py), or None: only a passive
    advised arm of a *marketable* baseline gets one (a passive baseline stays passive whatever the
    advice; a marketable advised arm crosses already), and its price is the baseline's tolerance."""
    base = baseline_policy(cfg)
    if cfg.catch_up is None or not cfg.catch_up.active:
        return None
    if policy.order_type != "passive" or base.order_type != "marketable":
        return None
    return cfg.catch_up


def no_looser(advised: ExecutionPolicy, baseline: ExecutionPolicy, stretch: float = 1.0) -> bool:
    """True when ``advised`` (run over ``stretch`` times the baseline's horizon) is at most as
    aggressive as ``baseline`` in every parameter.

    Aggressiveness: a higher participation cap; marketable over passive; a faster schedule at any
    step in wall time (pace / stretch), or one that crosses the spread; a passive quote nearer to
    (or inside) the spread; a wider marketable tolerance; a finishing sweep; a stretch outside
    Torghut's 1-3x.
    """
    if not 1.0 <= stretch <= MAX_STRETCH:
        return False
    _, pa, ca = advised.schedule_arrays()
    _, pb, cb = baseline.schedule_arrays()
    if advised.participation_cap > baseline.participation_cap:
        return False
    if baseline.order_type == "passive" and advised.order_type != "passive":
        return False
    if float(pa.max()) / stretch > float(pb.min()) or int(ca.max()) > int(cb.min()):
        return False
    same = advised.order_type == baseline.order_type
    nearer = advised.quote_offset_bps < baseline.quote_offset_bps
    wider = advised.quote_offset_bps > baseline.quote_offset_bps
    if same and ((advised.order_type == "passive" and nearer) or (advised.order_type == "marketable" and wider)):
        return False
    return not (advised.finish_marketable and not baseline.finish_marketable)
