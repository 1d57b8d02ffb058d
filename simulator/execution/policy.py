"""A parent order and the policy that works it: the inputs Torghut's advice can change.

The fields mirror ``execution_advice_v1`` (participation ceiling, urgency tier, order type,
quote offset) so that a Monte Carlo answers "what would this advice cost" directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Side = Literal["buy", "sell"]
OrderType = Literal["marketable", "passive"]
Tier = Literal["low", "normal", "high"]

# Pace multiplier of the schedule per urgency tier: a tier changes how fast the target curve
# rises, and "high" also crosses the spread (it buys certainty of completion with spread).
TIER_PACE: dict[str, float] = {"low": 0.5, "normal": 1.0, "high": 2.0}
TIER_CROSSES: dict[str, bool] = {"low": False, "normal": False, "high": True}


@dataclass(frozen=True)
class ParentOrder:
    order_id: str
    side: Side
    quantity: int  # shares
    horizon_s: float

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        if self.quantity <= 0 or self.horizon_s <= 0:
            raise ValueError("quantity and horizon must be positive")

    @property
    def direction(self) -> int:
        """Torghut's ``dir``: +1 buy, -1 sell."""
        return 1 if self.side == "buy" else -1


@dataclass(frozen=True)
class ExecutionPolicy:
    """How child orders are cut from the parent.

    * ``participation_cap``: cumulative child quantity never exceeds this fraction of the market
      volume the feed has shown since the parent started (<= 0 disables the cap).
    * ``urgency_schedule``: ``(fraction of horizon, tier)`` steps, first at 0.0; the target
      filled fraction rises at ``TIER_PACE[tier] / horizon`` per second, capped at 1.
    * ``order_type``: ``marketable`` sends IOC limits at the far touch plus ``quote_offset_bps``
      of tolerance; ``passive`` rests at the near touch minus ``quote_offset_bps`` (positive =
      further from the spread; negative improves inside the spread but never crosses).
    * ``reprice_ticks``: a resting child whose price is this many ticks or more from where the
      policy would now quote is cancelled and re-posted (losing its queue position); 0 = never.
    * ``finish_marketable``: at the horizon, sweep what is left with an unlimited IOC instead of
      leaving it unfilled.
    * ``decision_interval_s``, ``feed_latency_s`` (the book the policy sees is this old) and
      ``order_entry_latency_s`` (orders and cancels reach the book this much later).
    """

    participation_cap: float = 0.1
    urgency_schedule: tuple[tuple[float, Tier], ...] = ((0.0, "normal"),)
    order_type: OrderType = "passive"
    quote_offset_bps: float = 0.0
    reprice_ticks: int = 2
    finish_marketable: bool = False
    decision_interval_s: float = 1.0
    feed_latency_s: float = 0.005
    order_entry_latency_s: float = 0.010

    def __post_init__(self) -> None:
        if self.order_type not in ("marketable", "passive"):
            raise ValueError(f"order_type must be marketable or passive, not {self.order_type!r}")
        if not self.urgency_schedule or self.urgency_schedule[0][0] != 0.0:
            raise ValueError("urgency_schedule must start at fraction 0.0")
        fracs = [f for f, _ in self.urgency_schedule]
        if fracs != sorted(fracs) or fracs[-1] >= 1.0:
            raise ValueError("urgency_schedule fractions must increase and stay below 1.0")
        for _, tier in self.urgency_schedule:
            if tier not in TIER_PACE:
                raise ValueError(f"unknown urgency tier {tier!r}")
        if self.decision_interval_s <= 0 or self.feed_latency_s < 0 or self.order_entry_latency_s < 0:
            raise ValueError("decision interval must be positive and latencies non-negative")
        if self.reprice_ticks < 0:
            raise ValueError("reprice_ticks must be >= 0")

    @classmethod
    def from_advice(cls, urgency_tier: str, max_participation_rate: float | None = None,
                    preferred_order_type: str | None = None, quote_offset_bps: float | None = None,
                    **overrides: object) -> ExecutionPolicy:
        """The policy an ``execution_advice_v1`` describes, so the simulation consumer can price advice.

        Torghut's order types map as market -> marketable and limit -> passive (stop types have no
        meaning for a parent being worked and are refused); missing fields keep the defaults.
        """
        kinds = {"market": "marketable", "limit": "passive", "marketable": "marketable", "passive": "passive"}
        kw: dict[str, object] = {"urgency_schedule": ((0.0, urgency_tier),)}
        if max_participation_rate is not None:
            kw["participation_cap"] = float(max_participation_rate)
        if preferred_order_type is not None:
            if preferred_order_type not in kinds:
                raise ValueError(f"cannot simulate order type {preferred_order_type!r}")
            kw["order_type"] = kinds[preferred_order_type]
        if quote_offset_bps is not None:
            kw["quote_offset_bps"] = float(quote_offset_bps)
        kw.update(overrides)
        return cls(**kw)  # type: ignore[arg-type]

    def schedule_arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """(start fractions, pace multipliers, crosses-spread flags) for the compiled engine."""
        fr = np.array([f for f, _ in self.urgency_schedule], dtype=np.float64)
        pace = np.array([TIER_PACE[t] for _, t in self.urgency_schedule], dtype=np.float64)
        cross = np.array([int(TIER_CROSSES[t] or self.order_type == "marketable")
                          for _, t in self.urgency_schedule], dtype=np.int64)
        return fr, pace, cross
