"""One order's outcome under both arms, in Torghut's TCA arithmetic (simulator/execution/tca.py).

Why a separate, plain record: the report and the gate are computed from these rows only, so a test
can build a handful by hand and check every figure; nothing downstream sees the simulator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from simulator.execution.tca import shortfall_notional, slippage_bps


@dataclass(frozen=True)
class ArmOutcome:
    """What one arm did with the order. ``rejected``: Torghut's risk engine refused it (not sent)."""

    quantity: int
    filled_qty: int
    avg_fill: float  # nan when nothing filled
    arrival: float  # decision arrival price (the mid at arrival)
    end_mid: float  # mid at the horizon, marks the unfilled rest (opportunity cost)
    direction: int  # +1 buy, -1 sell
    rejected: bool = False
    unit: float = 1.0  # venue quantity per simulator unit (1e-5 for BTC), so notionals are in currency

    @property
    def fill_ratio(self) -> float:
        return self.filled_qty / self.quantity

    @property
    def slippage_bps(self) -> float:
        """Torghut: dir * (avg_fill - arrival) / arrival * 1e4; nan when nothing filled."""
        return slippage_bps(self.direction, self.avg_fill, self.arrival) if self.filled_qty else math.nan

    @property
    def shortfall_notional(self) -> float:
        """Torghut: dir * (avg_fill - arrival) * filled_qty (0 when nothing filled)."""
        return shortfall_notional(self.direction, self.avg_fill, self.arrival, self.filled_qty * self.unit)

    @property
    def opportunity_notional(self) -> float:
        """Cost of what was not filled, marked at the horizon mid: dir * (end_mid - arrival) * unfilled."""
        return self.direction * (self.end_mid - self.arrival) * (self.quantity - self.filled_qty) * self.unit

    @property
    def full_shortfall_bps(self) -> float:
        """Implementation shortfall of the whole parent in bps of arrival notional: the fills plus the
        unfilled rest marked at the horizon mid (the paper executor's ``full_shortfall_bps``). Cheaper
        fills that leave the order half done do not look cheap here."""
        return -self.net_pnl() / (self.quantity * self.unit * self.arrival) * 1e4

    def net_pnl(self, fee_bps: float = 0.0) -> float:
        """Net-after-cost PnL of the execution against the arrival decision: minus (Torghut shortfall
        + opportunity cost of the unfilled rest + fees on the filled notional)."""
        fees = fee_bps * 1e-4 * self.avg_fill * self.filled_qty * self.unit if self.filled_qty else 0.0
        return -(self.shortfall_notional + self.opportunity_notional + fees)


@dataclass(frozen=True)
class PairOutcome:
    """One parent order: the decision context at its arrival and both arms' outcomes."""

    order_id: str
    symbol: str
    side: str
    quantity: int
    submitted_ns: int
    horizon_s: float
    regime: str  # the grouping regime: the simulated market's own, else the liquidity regime at arrival
    liquidity_regime: str  # liquidity_regime of the state in force at arrival; "no_state" without one
    applied: bool  # did Torghut's client rules apply the advice (else the advised arm is the baseline)
    fallback_reason: str | None
    adverse_selection_risk: float | None
    expected_shortfall_bps_p50: float | None  # the advice's simulator p50, when it carried one
    baseline: ArmOutcome
    advised: ArmOutcome
    advised_policy: str = ""  # what the advisor arm ran: "order type / urgency tier xstretch"
    advised_stretch: float = 1.0  # the advised arm's horizon / the baseline's (Torghut: 1-3x)

    @property
    def risk_rejected(self) -> bool:
        return self.advised.rejected

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for arm in ("baseline", "advised"):
            o: ArmOutcome = getattr(self, arm)
            d[arm].update(slippage_bps=o.slippage_bps, shortfall_notional=o.shortfall_notional,
                          fill_ratio=o.fill_ratio, net_pnl=o.net_pnl(), full_shortfall_bps=o.full_shortfall_bps)
        return d


def rejected_arm(baseline: ArmOutcome) -> ArmOutcome:
    """The advised arm of a risk-rejected order: nothing sent, so nothing filled; the unfilled order
    is marked at the baseline path's horizon mid (the same seeded market without our children)."""
    return ArmOutcome(baseline.quantity, 0, math.nan, baseline.arrival, baseline.end_mid, baseline.direction,
                      rejected=True, unit=baseline.unit)
