"""Seeded parent orders for the paper split book (stable API: the replay report depends on it).

Why seeded from (seed, "orders") and not from the feed: both arms, the report and any rerun must
see exactly the same parents; a parent's identity (id, symbol, side, size, horizon, strategy,
submission instant) is a pure function of the arguments of :func:`generate_orders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from producers.simulated_market.seeding import rng
from simulator.execution.policy import ParentOrder

NS_PER_S = 1_000_000_000
STRATEGIES = ("momentum", "mean_reversion", "rebalance")


@dataclass(frozen=True, slots=True)
class PaperOrder:
    """One parent order: what a strategy asked for, before any execution policy is chosen.

    ``order_id`` is the parent's id; each arm's broker order id is ``<order_id>-<arm>``
    (``baseline`` / ``advisor``). ``submitted_ns`` is the arrival (decision) instant in event time.
    """

    order_id: str
    symbol: str
    side: str  # buy | sell
    quantity: int  # shares
    horizon_s: float
    strategy: str
    submitted_ns: int

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        if self.quantity <= 0 or not self.horizon_s > 0:
            raise ValueError(f"order {self.order_id}: quantity and horizon must be positive")

    def parent(self) -> ParentOrder:
        """The simulator's view of this order."""
        return ParentOrder(self.order_id, self.side, self.quantity, self.horizon_s)  # type: ignore[arg-type]

    def arm_order_id(self, arm: str) -> str:
        return f"{self.order_id}-{arm}"

    @property
    def end_ns(self) -> int:
        return self.submitted_ns + round(self.horizon_s * NS_PER_S)


def generate_orders(seed: int, symbols: list[str], start_ns: int, end_ns: int, n: int, *,
                    quantity_range: tuple[int, int] = (100, 600), lot: int = 10,
                    horizon_range: tuple[float, float] = (30.0, 120.0),
                    strategies: tuple[str, ...] = STRATEGIES,
                    spans: Mapping[str, tuple[int, int]] | None = None) -> list[PaperOrder]:
    """``n`` parents over ``symbols``, submitted in ``[start_ns, end_ns - horizon]``, sorted by time.

    ``spans`` gives a symbol its own ``(start_ns, end_ns)`` instead (a recording of several symbols
    whose data do not cover the same hours: an order is only placed where its symbol has a market).

    Each parent draws, from one generator seeded by (seed, "orders"): symbol (uniform), side
    (fair coin), quantity (uniform in ``quantity_range``, rounded down to ``lot``, at least one
    lot), horizon (uniform in ``horizon_range``, whole seconds), strategy (uniform) and a
    submission instant (uniform, whole milliseconds) that leaves the full horizon before ``end_ns``.
    Ids are ``po-<seed>-<k>`` in draw order.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not symbols or not strategies:
        raise ValueError("need at least one symbol and one strategy")
    lo_q, hi_q = quantity_range
    lo_h, hi_h = horizon_range
    if not (0 < lo_q <= hi_q and lot > 0 and 0 < lo_h <= hi_h):
        raise ValueError("quantity_range, lot and horizon_range must be positive and ordered")
    windows = {s: (spans or {}).get(s, (start_ns, end_ns)) for s in symbols}
    for sym, (lo_ns, hi_ns) in windows.items():
        span_s = (hi_ns - lo_ns) / NS_PER_S
        if span_s < hi_h:
            who = f"{sym}'s window" if spans and sym in spans else "the window"
            raise ValueError(f"{who} ({span_s:g} s) is shorter than the longest horizon ({hi_h:g} s)")
    g = rng(seed, "orders")
    orders = []
    for k in range(n):
        symbol = symbols[int(g.integers(len(symbols)))]
        side = "buy" if g.random() < 0.5 else "sell"
        qty = max(lot, int(g.integers(lo_q, hi_q + 1)) // lot * lot)
        horizon = float(round(g.uniform(lo_h, hi_h)))
        strategy = strategies[int(g.integers(len(strategies)))]
        lo_ns, hi_ns = windows[symbol]
        latest_ms = int(((hi_ns - lo_ns) / NS_PER_S - horizon) * 1000)
        offset_ms = int(g.integers(0, latest_ms + 1))
        orders.append(PaperOrder(f"po-{seed}-{k:05d}", symbol, side, qty, horizon, strategy,
                                 lo_ns + offset_ms * 1_000_000))
    return sorted(orders, key=lambda o: (o.submitted_ns, o.order_id))
