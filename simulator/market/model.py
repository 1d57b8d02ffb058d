"""Everything the market model needs besides the book: Hawkes law, marks, placement, price scale.

Order sizes are the Hawkes package's mark distributions (``simulator.hawkes.marks``: one
discrete ``(values, cdf)`` table per dimension, empirical or discretised lognormal), so the fit
and the simulator share one representation. Placement offsets (how far behind the touch deep
limits and cancels land, how far inside the spread improving limits go, how far apart the
levels behind the touch are) are quantile tables: they are rules of the book, not marks, and
inverse-CDF lookup costs one uniform draw in the hot loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from simulator.hawkes.marks import MarkDistribution
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age_sim import AgeFactors, mean_rates
from simulator.hawkes.params import HawkesParams
from simulator.market.types import DIM_NAMES, N_DIMS

N_QUANTILES = 64
OWN_ORDER_RULES = {"legacy": 0, "reachable": 1, "market_view": 2}  # values of engine's OWN_* constants


def quantile_table(samples: NDArray[Any], n: int = N_QUANTILES, floor: int = 1) -> NDArray[np.int64]:
    """``n`` mid-point quantiles of ``samples`` as integers >= ``floor``: a table for u -> table[u*n]."""
    s = np.asarray(samples, dtype=np.float64)
    if s.size == 0:
        raise ValueError("cannot build a quantile table from no samples")
    q = np.quantile(s, (np.arange(n) + 0.5) / n, method="inverted_cdf")
    return np.maximum(np.rint(q), floor).astype(np.int64)


class Tables(NamedTuple):
    """The model as flat arrays for the compiled loops (one argument instead of six)."""

    mark_values: NDArray[np.int64]  # (N_DIMS, K) sizes, each row padded with its last value
    mark_cdf: NDArray[np.float64]  # (N_DIMS, K) cdf, each row padded with 1.0
    deep: NDArray[np.int64]  # (2, K) deep-limit offsets, ticks
    cancel: NDArray[np.int64]  # (2, K) cancel offsets, ticks
    inside: NDArray[np.int64]  # (2, K) price improvement of inside-spread limits, ticks >= 1
    gaps: NDArray[np.int64]  # (1, K) tick gaps between levels of the start book and of refills
    cfg: NDArray[np.int64]  # [refill/initial levels, refill gap ticks, own-order rule (engine OWN_*)]


@dataclass(frozen=True)
class MarketModel:
    """A calibrated (or illustrative) market: Hawkes order flow plus the rules to place it on a book."""

    hawkes: HawkesParams
    marks: tuple[MarkDistribution, ...]  # order size per dimension (shares)
    deep_offset_table: NDArray[np.int64]  # (2, K) ticks behind the touch for deep limits, bid/ask
    cancel_offset_table: NDArray[np.int64]  # (2, K) ticks behind the touch of cancels (0 = at it)
    tick_size: float  # currency per tick
    ref_price: float  # price level the book starts around; turns ticks into bps
    init_spread_ticks: int = 1
    init_levels: int = 10
    init_orders_per_level: int = 3
    metadata: dict[str, Any] = field(default_factory=dict)
    inside_offset_table: NDArray[np.int64] | None = None  # (2, K); None: one tick of improvement
    level_gap_table: NDArray[np.int64] | None = None  # (K,); None: contiguous levels
    multiscale: MultiScaleParams | None = None
    """Opt-in richer order flow (time-varying baselines, several time scales). When set, paths draw
    their flow from it instead of ``hawkes`` (which stays the stationary description, e.g. for
    volume estimates of old consumers); None keeps every path exactly as before."""
    flow_start_s: float = 0.0
    own_age: AgeFactors | None = None
    """Opt-in own-age factors on the multi-scale flow (:mod:`simulator.hawkes.multiscale_age_sim`):
    each dimension's intensity times a factor per class of the time since its own last event.
    Needs ``multiscale``; None keeps every path and digest exactly as before."""
    own_impact: float = 0.0
    """Our aggressive fills excite the market's flow (``simulator.execution.reaction``): 0 (default)
    = no reaction; 1 = each fill counts as fill / mean size market orders of its side, through the
    fitted branching column; other values scale that."""
    own_order_rule: str = "market_view"
    """How the market's flow treats our resting children (``simulator.market.engine``):
    ``"market_view"`` (default since 0.2: cancels and placements act on the others' orders, an
    order placed where a child of ours would block it trades with the child, the policy quotes
    against the others' touch), ``"reachable"`` (cancels can pull our children at
    their queue position) or ``"legacy"`` (before 0.2: cancels skip them; biased, kept to compare)."""
    """Where in the multi-scale baseline profile (its clock: seconds from the start of the calibrated
    window or day) a simulated path starts, e.g. 3600 for a path that starts an hour after the open."""

    def __post_init__(self) -> None:
        if self.hawkes.dim != N_DIMS:
            raise ValueError(f"market model needs {N_DIMS} Hawkes dimensions, got {self.hawkes.dim}")
        if self.multiscale is not None:
            if self.multiscale.dim != N_DIMS:
                raise ValueError(f"multi-scale flow needs {N_DIMS} dimensions, got {self.multiscale.dim}")
            if self.multiscale.spectral_radius() >= 1.0:
                raise ValueError("multi-scale branching matrix is not stationary (spectral radius >= 1)")
        if self.own_age is not None:
            if self.multiscale is None:
                raise ValueError("own-age factors scale the multi-scale flow: set multiscale too")
            if self.own_age.dim != N_DIMS:
                raise ValueError(f"own-age factors need {N_DIMS} dimensions, got {self.own_age.dim}")
        if len(self.marks) != N_DIMS:
            raise ValueError(f"need one mark distribution per dimension ({N_DIMS}), got {len(self.marks)}")
        dt = np.ascontiguousarray(self.deep_offset_table, dtype=np.int64)
        if dt.ndim != 2 or dt.shape[0] != 2 or np.any(dt < 1):
            raise ValueError("deep_offset_table must be (2, K) of integers >= 1")
        ct = np.ascontiguousarray(self.cancel_offset_table, dtype=np.int64)
        if ct.ndim != 2 or ct.shape[0] != 2 or np.any(ct < 0):
            raise ValueError("cancel_offset_table must be (2, K) of integers >= 0")
        if not (self.tick_size > 0 and self.ref_price > 0):
            raise ValueError("tick_size and ref_price must be positive")
        if self.hawkes.spectral_radius() >= 1.0:
            raise ValueError("Hawkes branching matrix is not stationary (spectral radius >= 1)")
        object.__setattr__(self, "marks", tuple(self.marks))
        k = max(m.values.shape[0] for m in self.marks)
        mv = np.empty((N_DIMS, k), np.int64)
        mc = np.ones((N_DIMS, k), np.float64)
        for i, m in enumerate(self.marks):
            n = m.values.shape[0]
            mv[i, :n] = m.values
            mv[i, n:] = m.values[-1]
            mc[i, :n] = m.cdf
        if not (np.isfinite(self.own_impact) and self.own_impact >= 0):
            raise ValueError("own_impact must be a finite number >= 0")
        if self.own_order_rule not in OWN_ORDER_RULES:
            raise ValueError(f"own_order_rule must be one of {list(OWN_ORDER_RULES)}, not {self.own_order_rule!r}")
        cfg = np.array([self.init_levels, self.init_spread_ticks, OWN_ORDER_RULES[self.own_order_rule]], np.int64)
        it = np.ones((2, N_QUANTILES), np.int64) if self.inside_offset_table is None \
            else np.ascontiguousarray(self.inside_offset_table, dtype=np.int64)
        if it.ndim != 2 or it.shape[0] != 2 or np.any(it < 1):
            raise ValueError("inside_offset_table must be (2, K) of integers >= 1")
        gt = np.ones(N_QUANTILES, np.int64) if self.level_gap_table is None \
            else np.ascontiguousarray(self.level_gap_table, dtype=np.int64)
        if gt.ndim != 1 or np.any(gt < 1):
            raise ValueError("level_gap_table must be 1-d of integers >= 1")
        object.__setattr__(self, "inside_offset_table", it)
        object.__setattr__(self, "level_gap_table", gt)
        object.__setattr__(self, "_tables", Tables(mv, mc, dt, ct, it, gt.reshape(1, -1), cfg))
        object.__setattr__(self, "deep_offset_table", dt)
        object.__setattr__(self, "cancel_offset_table", ct)

    @property
    def ref_tick(self) -> int:
        return round(self.ref_price / self.tick_size)

    @property
    def tables(self) -> Tables:
        return self._tables  # type: ignore[attr-defined]

    def mean_size(self, dim: int) -> float:
        return self.marks[dim].mean()

    def flow_rates(self) -> NDArray[np.float64]:
        """Long-run event rate per dimension of the flow paths are drawn from (1/s)."""
        if self.own_age is not None and self.multiscale is not None:
            # no closed form with the factors: one seeded path over the profile, computed once
            cached = self.__dict__.get("_age_rates")
            if cached is None:
                cached = mean_rates(self.multiscale, self.own_age, seconds=max(self.multiscale.period, 20_000.0))
                object.__setattr__(self, "_age_rates", cached)
            return np.asarray(cached, dtype=np.float64).copy()
        if self.multiscale is not None:
            return self.multiscale.mean_intensity()
        return self.hawkes.stationary_intensity()

    def expected_market_volume(self, seconds: float) -> float:
        """Expected shares traded by market orders in ``seconds`` at stationarity (sizes capped by depth aside)."""
        lam = self.flow_rates()
        return float(seconds * (lam[0] * self.mean_size(0) + lam[1] * self.mean_size(1)))

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {} if self.multiscale is None else {
            "multiscale": self.multiscale.to_dict(), "flow_start_s": self.flow_start_s}
        if self.own_age is not None:
            extra["own_age"] = self.own_age.to_dict()
        if self.own_order_rule != "market_view":
            extra["own_order_rule"] = self.own_order_rule
        if self.own_impact != 0.0:
            extra["own_impact"] = self.own_impact
        return extra | {
            "schema": "microexec.market_model.v1",
            "dims": list(DIM_NAMES),
            "hawkes": self.hawkes.to_dict(),
            "marks": [m.to_dict() for m in self.marks],
            "deep_offset_table": self.deep_offset_table.tolist(),
            "cancel_offset_table": self.cancel_offset_table.tolist(),
            "inside_offset_table": np.asarray(self.inside_offset_table).tolist(),
            "level_gap_table": np.asarray(self.level_gap_table).tolist(),
            "tick_size": self.tick_size,
            "ref_price": self.ref_price,
            "init_spread_ticks": self.init_spread_ticks,
            "init_levels": self.init_levels,
            "init_orders_per_level": self.init_orders_per_level,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarketModel:
        try:
            if list(data.get("dims", DIM_NAMES)) != list(DIM_NAMES):
                raise ValueError(f"params dims {data.get('dims')} differ from the model's {list(DIM_NAMES)}")
            return cls(
                hawkes=HawkesParams.from_dict(data["hawkes"]),
                marks=tuple(MarkDistribution.from_dict(m) for m in data["marks"]),
                deep_offset_table=np.asarray(data["deep_offset_table"]),
                cancel_offset_table=np.asarray(data["cancel_offset_table"]),
                inside_offset_table=(np.asarray(data["inside_offset_table"])
                                     if "inside_offset_table" in data else None),
                level_gap_table=np.asarray(data["level_gap_table"]) if "level_gap_table" in data else None,
                tick_size=float(data["tick_size"]),
                ref_price=float(data["ref_price"]),
                init_spread_ticks=int(data.get("init_spread_ticks", 1)),
                init_levels=int(data.get("init_levels", 10)),
                init_orders_per_level=int(data.get("init_orders_per_level", 3)),
                metadata=dict(data.get("metadata", {})),
                multiscale=MultiScaleParams.from_dict(data["multiscale"]) if "multiscale" in data else None,
                flow_start_s=float(data.get("flow_start_s", 0.0)),
                own_age=AgeFactors.from_dict(data["own_age"]) if "own_age" in data else None,
                own_order_rule=str(data.get("own_order_rule", "market_view")),
                own_impact=float(data.get("own_impact", 0.0)),
            )
        except KeyError as exc:
            raise ValueError(f"params file is missing key {exc}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> MarketModel:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"params file not found: {p}")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"params file {p} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def illustrative_model(ref_price: float = 100.0, tick_size: float = 0.01) -> MarketModel:
    """A hand-set, *uncalibrated* model for smoke runs and benchmarks when no params file is given.

    Its shape follows what calibration on LOBSTER AMZN shows qualitatively (market orders excite
    same-side market orders and refills at the touch, cancels cluster with limits), with rates
    scaled to a liquid stock (~45 events/s). Use ``microexec calibrate`` for real parameters.
    """
    d = N_DIMS
    mu = np.array([1.2, 1.2, 3.0, 3.0, 0.8, 0.8, 3.0, 3.0, 6.5, 6.5])
    alpha = np.full((d, d), 0.01)
    beta = np.full((d, d), 5.0)
    for side in range(2):
        mb, lt, li, ld, cx = 0 + side, 2 + side, 4 + side, 6 + side, 8 + side
        other_lt = 3 - side
        alpha[mb, mb] = 0.25  # order splitting: trades follow trades on the same side
        beta[mb, mb] = 8.0
        alpha[lt, mb] = 0.10  # buyers who lifted the ask also join the bid
        alpha[other_lt, mb] = 0.20  # a buy depletes asks; new asks come back at the touch
        beta[other_lt, mb] = 12.0
        alpha[lt, lt] = 0.15
        alpha[cx, lt] = 0.15  # flickering quotes: posts are followed by cancels
        beta[cx, lt] = 20.0
        alpha[cx, cx] = 0.20
        alpha[ld, ld] = 0.20
        alpha[li, cx] = 0.05
        alpha[lt, li] = 0.10
    # Round-lot heavy sizes (shape of LOBSTER AMZN new-order sizes: odd lots, then 100s).
    values = np.array([5, 10, 20, 50, 100, 200, 300, 500, 1000], np.int64)
    probs = np.array([0.06, 0.08, 0.08, 0.08, 0.45, 0.12, 0.05, 0.05, 0.03])
    size = MarkDistribution("empirical", values, np.cumsum(probs))
    k = np.arange(N_QUANTILES)
    deep = np.minimum(1 + k // 6, 12).astype(np.int64)
    inside = np.where(k < 40, 1, np.where(k < 56, 2, 4)).astype(np.int64)
    canc = np.where(k < N_QUANTILES // 2, 0, np.minimum((k - N_QUANTILES // 2) // 4 + 1, 12)).astype(np.int64)
    return MarketModel(
        hawkes=HawkesParams(mu, alpha, beta),
        marks=(size,) * d,
        deep_offset_table=np.vstack([deep, deep]),
        cancel_offset_table=np.vstack([canc, canc]),
        inside_offset_table=np.vstack([inside, inside]),
        level_gap_table=np.where(k < 48, 1, 2).astype(np.int64),
        tick_size=tick_size,
        ref_price=ref_price,
        metadata={"source": "illustrative (not calibrated)"},
    )
