"""The deterministic bounds: the baseline policy and what "tighter" means for every advice field.

Why a separate module: the promise "advice can only tighten" is the safety case of the whole
product (seed: "advisor cannot increase risk limits"). It is stated once here, as total orders per
field, and the intersection below is the only way advice values are produced; the property test
checks ``is_within`` over arbitrary states and configurations.

Orders (left is tighter, i.e. more conservative):

* ``max_participation_rate``: smaller is tighter; advice is in [0, baseline.max_participation_rate].
* ``preferred_order_type``: ranked by aggressiveness. Price-bounded types (``limit``,
  ``stop_limit``) rank 0, unbounded ones (``market``, ``stop``) rank 1. Advice must be one of the
  baseline's ``allowed_order_types`` and rank no higher than the baseline's own ``order_type``
  (so a limit-only baseline can never be advised to send market orders). This matches Torghut's
  rule that ``preferred_order_type=limit`` turns a market order into a limit and nothing loosens.
* ``quote_offset_bps``: how far a limit price may be *more aggressive than the same-side touch*
  (toward the opposite side), in bps of that touch: a buy limit <= bid * (1 + offset/1e4), a sell
  limit >= ask * (1 - offset/1e4). 0 means join the touch and never improve it. Smaller is tighter
  (pays less spread); advice is in [0, baseline.max_quote_offset_bps].
* ``urgency_tier``: low < normal < high; advice <= baseline.urgency_tier.
* ``turnover_budget``: smaller is tighter; advice is in [0, baseline.max_turnover_budget].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ORDER_TYPE_RANK = {"limit": 0, "stop_limit": 0, "market": 1, "stop": 1}
URGENCY_RANK = {"low": 0, "normal": 1, "high": 2}
URGENCIES = ("low", "normal", "high")
# Preference among equally ranked allowed types when the advice must fall back to a permitted one.
_TYPE_PREFERENCE = ("limit", "stop_limit", "market", "stop")


@dataclass(frozen=True, slots=True)
class BaselinePolicy:
    """What the execution system would do without the advisor; the advice lives inside it."""

    max_participation_rate: float = 0.10
    order_type: str = "market"
    allowed_order_types: tuple[str, ...] = ("market", "limit")
    max_quote_offset_bps: float = 5.0
    urgency_tier: str = "normal"
    max_turnover_budget: float = 0.25

    def validate(self) -> BaselinePolicy:
        for name in ("max_participation_rate", "max_quote_offset_bps", "max_turnover_budget"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"baseline {name} must be finite and >= 0, got {value!r}")
        if self.max_participation_rate > 1:
            raise ValueError("baseline max_participation_rate must be <= 1")
        unknown = [t for t in (self.order_type, *self.allowed_order_types) if t not in ORDER_TYPE_RANK]
        if unknown:
            raise ValueError(f"unknown order types {unknown}")
        if self.order_type not in self.allowed_order_types:
            raise ValueError("baseline order_type must be one of allowed_order_types")
        if self.urgency_tier not in URGENCY_RANK:
            raise ValueError(f"unknown urgency tier {self.urgency_tier!r}")
        return self


@dataclass(frozen=True, slots=True)
class Advice:
    """The policy fields of an advice record (the rest is telemetry and provenance)."""

    max_participation_rate: float
    preferred_order_type: str
    quote_offset_bps: float
    urgency_tier: str
    turnover_budget: float


def baseline_advice(b: BaselinePolicy) -> Advice:
    """The baseline itself, expressed as advice: what a fallback publishes."""
    return Advice(b.max_participation_rate, b.order_type, b.max_quote_offset_bps, b.urgency_tier,
                  b.max_turnover_budget)


def _cap(value: float, upper: float) -> float:
    """min(value, upper) clamped at 0; a non-finite proposal falls back to the bound itself."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return upper
    return max(0.0, min(float(value), upper))


def _order_type(proposed: str, b: BaselinePolicy) -> str:
    ceiling = ORDER_TYPE_RANK[b.order_type]
    rank = ORDER_TYPE_RANK.get(proposed)
    if rank is not None and rank <= ceiling and proposed in b.allowed_order_types:
        return proposed
    # Not permitted: the least aggressive permitted type no more aggressive than the baseline's.
    for candidate in _TYPE_PREFERENCE:
        if candidate in b.allowed_order_types and ORDER_TYPE_RANK[candidate] <= ceiling:
            return candidate
    return b.order_type


def _urgency(proposed: str, b: BaselinePolicy) -> str:
    rank = URGENCY_RANK.get(proposed, URGENCY_RANK["low"])  # unknown: the most conservative
    return URGENCIES[min(rank, URGENCY_RANK[b.urgency_tier])]


def intersect(proposal: Advice, b: BaselinePolicy) -> Advice:
    """The tightest of proposal and baseline on every field: the only constructor of published advice."""
    return Advice(
        max_participation_rate=_cap(proposal.max_participation_rate, b.max_participation_rate),
        preferred_order_type=_order_type(proposal.preferred_order_type, b),
        quote_offset_bps=_cap(proposal.quote_offset_bps, b.max_quote_offset_bps),
        urgency_tier=_urgency(proposal.urgency_tier, b),
        turnover_budget=_cap(proposal.turnover_budget, b.max_turnover_budget),
    )


def is_within(a: Advice, b: BaselinePolicy) -> bool:
    """True when ``a`` is at least as tight as ``b`` on every field (the safety property)."""
    return (
        0.0 <= a.max_participation_rate <= b.max_participation_rate
        and a.preferred_order_type in b.allowed_order_types
        and ORDER_TYPE_RANK[a.preferred_order_type] <= ORDER_TYPE_RANK[b.order_type]
        and 0.0 <= a.quote_offset_bps <= b.max_quote_offset_bps
        and URGENCY_RANK[a.urgency_tier] <= URGENCY_RANK[b.urgency_tier]
        and 0.0 <= a.turnover_budget <= b.max_turnover_budget
    )
