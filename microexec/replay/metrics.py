"""Summary figures per arm, the promotion criteria with pass/fail, and the per-regime comparison.

Why these definitions (docs/replay.md states them for readers of the report):

* slippage statistics are over the orders an arm filled at all (Torghut's slippage is undefined
  without a fill); what an arm did not fill shows up in the fill rate and in net-after-cost PnL;
* Torghut's ``realized_shortfall_bps`` *is* ``slippage_bps``, so "p95 shortfall" is the 95th
  percentile of that per-order figure; the notional shortfall is reported beside it;
* percentiles are numpy's default (linear interpolation between order statistics);
* fill rate is filled shares over ordered shares (a large order counts for its size).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from microexec.replay.outcomes import ArmOutcome, PairOutcome

MEAN_SLIPPAGE_REDUCTION = 0.20  # advisor mean slippage at least 20% lower than baseline
P95_SHORTFALL_REDUCTION = 0.25  # advisor p95 shortfall at least 25% lower
FILL_RATE_TOLERANCE_PP = 2.0  # fill rate at most 2 percentage points below the baseline (fill_kept)
MIN_REGIME_SAMPLES = 6  # Torghut's adaptive policy needs >= 6 samples per symbol and regime
_EPS = 1e-9  # float slack on the edges, so "exactly 20%" is not lost to rounding


def percentile(values: Sequence[float], q: float) -> float:
    """numpy's linear percentile over the finite values; nan when there are none."""
    a = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    return float(np.percentile(a, q)) if a.size else math.nan


def _mean(values: Sequence[float]) -> float:
    a = [v for v in values if math.isfinite(v)]
    return float(np.mean(a)) if a else math.nan


@dataclass(frozen=True)
class ArmSummary:
    orders: int
    filled_orders: int
    fill_rate: float  # filled shares / ordered shares
    mean_slippage_bps: float
    p50_slippage_bps: float
    p95_shortfall_bps: float  # Torghut realized_shortfall_bps (= slippage_bps), 95th percentile
    p99_shortfall_bps: float
    worst_shortfall_bps: float
    mean_shortfall_notional: float
    p95_shortfall_notional: float
    net_pnl: float  # sum over orders, currency
    risk_rejections: int
    mean_full_shortfall_bps: float = math.nan  # whole-order implementation shortfall, all orders

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(arms: Sequence[ArmOutcome], fee_bps: float = 0.0) -> ArmSummary:
    filled = [a for a in arms if a.filled_qty > 0]
    slip = [a.slippage_bps for a in filled]
    notional = [a.shortfall_notional for a in filled]
    qty = sum(a.quantity for a in arms)
    return ArmSummary(
        orders=len(arms),
        filled_orders=len(filled),
        fill_rate=sum(a.filled_qty for a in arms) / qty if qty else math.nan,
        mean_slippage_bps=_mean(slip),
        p50_slippage_bps=percentile(slip, 50),
        p95_shortfall_bps=percentile(slip, 95),
        p99_shortfall_bps=percentile(slip, 99),
        worst_shortfall_bps=max(slip) if slip else math.nan,
        mean_shortfall_notional=_mean(notional),
        p95_shortfall_notional=percentile(notional, 95),
        net_pnl=float(sum(a.net_pnl(fee_bps) for a in arms)),
        risk_rejections=sum(a.rejected for a in arms),
        mean_full_shortfall_bps=_mean([a.full_shortfall_bps for a in arms]),
    )


@dataclass(frozen=True)
class Criterion:
    name: str
    goal: str
    baseline: float
    advised: float
    figure: float  # the number the goal is about (a reduction fraction, a pp difference, ...)
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "goal": self.goal, "baseline": self.baseline, "advised": self.advised,
                "figure": self.figure, "result": "pass" if self.passed else "fail", "detail": self.detail}


def fill_kept(base: float, adv: float) -> bool:
    """The fill-rate goal: the advisor fills at most 2 points less than the baseline.

    Why one-sided (issue 9 says "within 2 percentage points"): the goal exists so that the advisor
    cannot look cheaper by not trading (slippage is measured over what filled). An advisor that fills
    *more* than the baseline does not gain from it: its cost figures then cover more of the order,
    which the mean and p95 criteria still judge. The symmetric reading, ``|gap| <= 2``
    (:func:`fill_within`), is reported beside it (criterion detail, docs/validation.md)."""
    gap = (adv - base) * 100
    return math.isfinite(gap) and gap >= -FILL_RATE_TOLERANCE_PP - _EPS


def fill_within(base: float, adv: float) -> bool:
    """The symmetric reading of the fill-rate goal: |advisor - baseline| <= 2 points."""
    gap = (adv - base) * 100
    return math.isfinite(gap) and abs(gap) <= FILL_RATE_TOLERANCE_PP + _EPS


def reduction(base: float, adv: float) -> float:
    """(base - adv) / |base|: 0.2 means the advisor is 20% lower (better); nan if base is 0 or nan."""
    if not (math.isfinite(base) and math.isfinite(adv)) or base == 0:
        return math.nan
    return (base - adv) / abs(base)


def lower_by(base: float, adv: float, fraction: float) -> bool:
    """adv <= base - fraction * |base| (at least ``fraction`` lower, whatever the sign of base)."""
    if not (math.isfinite(base) and math.isfinite(adv)):
        return False
    return adv <= base - fraction * abs(base) + _EPS


@dataclass(frozen=True)
class RegimeRow:
    regime: str
    orders: int
    paired: int  # orders both arms filled: the samples the slippage comparison uses
    baseline_mean_bps: float
    advised_mean_bps: float
    delta_mean_bps: float  # advised - baseline over paired orders (negative: advisor cheaper)
    baseline_p95_bps: float
    advised_p95_bps: float
    baseline_fill_rate: float
    advised_fill_rate: float
    baseline_net_pnl: float
    advised_net_pnl: float
    applied_share: float  # share of the regime's orders whose advice was applied
    sufficient: bool
    advisor_wins: bool | None  # None when insufficient samples
    why: str  # what the advisor lost on, "" when it won or was not judged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def regime_table(pairs: Sequence[PairOutcome], key: Callable[[PairOutcome], str] = lambda p: p.regime,
                 fee_bps: float = 0.0) -> list[RegimeRow]:
    """Per regime (``key``, default the grouping regime). A regime is judged when >= MIN_REGIME_SAMPLES
    orders filled in both arms. The advisor wins it only when it does not lose on any of: mean slippage
    over those orders (not above baseline's: Torghut's cost of what filled), fill rate (not more than
    2 points below: cheaper by not trading is no win; :func:`fill_kept`) and net-after-cost PnL over all
    the regime's orders (not below baseline's)."""
    rows = []
    for regime in sorted({key(p) for p in pairs}):
        group = [p for p in pairs if key(p) == regime]
        paired = [p for p in group if p.baseline.filled_qty and p.advised.filled_qty]
        b = summarize([p.baseline for p in group], fee_bps)
        a = summarize([p.advised for p in group], fee_bps)
        bm = _mean([p.baseline.slippage_bps for p in paired])
        am = _mean([p.advised.slippage_bps for p in paired])
        sufficient = len(paired) >= MIN_REGIME_SAMPLES
        lost = []
        if sufficient and not am <= bm + _EPS:
            lost.append("mean slippage")
        if sufficient and not fill_kept(b.fill_rate, a.fill_rate):
            lost.append(f"fill rate {(a.fill_rate - b.fill_rate) * 100:+.1f} pp")
        if sufficient and not a.net_pnl >= b.net_pnl - _EPS:
            lost.append("net-after-cost PnL")
        rows.append(RegimeRow(
            regime=regime, orders=len(group), paired=len(paired), baseline_mean_bps=bm, advised_mean_bps=am,
            delta_mean_bps=am - bm if paired else math.nan,
            baseline_p95_bps=percentile([p.baseline.slippage_bps for p in paired], 95),
            advised_p95_bps=percentile([p.advised.slippage_bps for p in paired], 95),
            baseline_fill_rate=b.fill_rate, advised_fill_rate=a.fill_rate,
            baseline_net_pnl=b.net_pnl, advised_net_pnl=a.net_pnl,
            applied_share=sum(p.applied for p in group) / len(group),
            sufficient=sufficient,
            advisor_wins=(not lost) if sufficient else None,
            why=", ".join(lost),
        ))
    return rows


def criteria(base: ArmSummary, adv: ArmSummary, regimes: Sequence[RegimeRow]) -> list[Criterion]:
    """The seed's promotion criteria, each with its figure and pass/fail."""
    fill_pp = (adv.fill_rate - base.fill_rate) * 100
    counted = [r for r in regimes if r.sufficient]
    losers = [f"{r.regime} ({r.why})" for r in counted if not r.advisor_wins]
    thin = [r.regime for r in regimes if not r.sufficient]
    stable_detail = (f"{len(counted)} regime(s) with >= {MIN_REGIME_SAMPLES} paired orders; advisor loses in: "
                     f"{', '.join(losers) or 'none'}; too few samples: {', '.join(thin) or 'none'}")
    return [
        Criterion("mean_slippage", f"advisor mean slippage >= {MEAN_SLIPPAGE_REDUCTION:.0%} lower than baseline",
                  base.mean_slippage_bps, adv.mean_slippage_bps,
                  reduction(base.mean_slippage_bps, adv.mean_slippage_bps),
                  lower_by(base.mean_slippage_bps, adv.mean_slippage_bps, MEAN_SLIPPAGE_REDUCTION),
                  "figure: (baseline - advisor) / |baseline|"),
        Criterion("p95_shortfall", f"advisor p95 shortfall >= {P95_SHORTFALL_REDUCTION:.0%} lower than baseline",
                  base.p95_shortfall_bps, adv.p95_shortfall_bps,
                  reduction(base.p95_shortfall_bps, adv.p95_shortfall_bps),
                  lower_by(base.p95_shortfall_bps, adv.p95_shortfall_bps, P95_SHORTFALL_REDUCTION),
                  "figure: (baseline - advisor) / |baseline|"),
        Criterion("fill_rate", f"fill rate not more than {FILL_RATE_TOLERANCE_PP:g} percentage points below baseline",
                  base.fill_rate, adv.fill_rate, fill_pp, fill_kept(base.fill_rate, adv.fill_rate),
                  "figure: advisor - baseline, percentage points; symmetric reading (within "
                  f"{FILL_RATE_TOLERANCE_PP:g} either way): "
                  f"{'pass' if fill_within(base.fill_rate, adv.fill_rate) else 'fail'}"),
        Criterion("risk_rejections", "no more risk rejections (adverse_selection_risk > 0.85) than baseline",
                  float(base.risk_rejections), float(adv.risk_rejections),
                  float(adv.risk_rejections - base.risk_rejections),
                  adv.risk_rejections <= base.risk_rejections, "figure: advisor - baseline, orders"),
        Criterion("stable_across_regimes", "no loss in any regime with enough samples (mean slippage not above, "
                  "fill rate not more than 2 pp below, net-after-cost PnL not below baseline)",
                  float(len(counted)), float(len(counted) - len(losers)), float(len(losers)),
                  bool(counted) and not losers, stable_detail),
    ]
