"""The replay itself: advice in force at each arrival, both arms on the same seeded market, the rows.

Why the split-book core (producers.paper): the paper executor and this replay must execute the same
way, so a policy difference is the only difference between arms (same market seed per order, see
producers/paper/split_book.py). The advised arm of a risk-rejected order is not executed: Torghut's
risk engine refuses it (TORGHUT.md), which the report counts against the advisor. The advised arm
runs over its stretched horizon (``policy_map.advised_execution``; microexec/replay/arms.py) and is
judged, fill rate included, at the end of that horizon.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from microexec.replay.outcomes import ArmOutcome, PairOutcome, rejected_arm
from microexec.replay.sources import Market
from microexec.replay.timeline import Timeline, arrivals
from producers.paper.orders import PaperOrder, generate_orders
from producers.paper.policy_map import (
    PaperConfig,
    advised_catch_up,
    advised_execution,
    baseline_order,
    baseline_policy,
)
from producers.paper.split_book import DEFAULT_WARMUP_S, execute_arms, order_seed
from producers.records import FeedRecord
from simulator.execution.policy import ExecutionPolicy
from simulator.execution.run import ExecutionResult
from streams.timeutil import TimestampError, parse_ts_ns
from torghut_client import ClientRules

ORDER_FIELDS = ("order_id", "symbol", "side", "quantity", "horizon_s", "strategy", "submitted_ns")


class OrdersInputError(ValueError):
    """The orders file cannot be used (one line, the user's to fix)."""


@dataclass(frozen=True)
class ReplayConfig:
    seed: int = 1
    paper: PaperConfig = field(default_factory=PaperConfig)
    rules: ClientRules = field(default_factory=ClientRules)  # Torghut defaults, never the environment
    fee_bps: float = 0.0
    warmup_s: float = DEFAULT_WARMUP_S


def arm(order: PaperOrder, r: ExecutionResult, unit: float = 1.0) -> ArmOutcome:
    return ArmOutcome(order.quantity, r.filled_qty, float(r.avg_fill_price), float(r.arrival_mid), float(r.end_mid),
                      1 if order.side == "buy" else -1, unit=unit)


def policy_label(p: ExecutionPolicy, stretch: float = 1.0) -> str:
    """``passive / normal x2``: the advised arm's order type, urgency tier and horizon stretch, a
    stretch between whole numbers shown as its bracket (``x1-2``); the participation cap is left out:
    with it, and with exact stretches, the groups would be unreadably small."""
    lo, hi = math.floor(stretch + 1e-9), math.ceil(stretch - 1e-9)
    return f"{p.order_type} / {p.urgency_schedule[0][1]} x{lo}" + ("" if lo >= hi else f"-{hi}")


def execute_orders(market: Market, timeline: Timeline, orders: Sequence[PaperOrder], cfg: ReplayConfig,
                   step: Callable[[], None] = lambda: None) -> list[PairOutcome]:
    """One PairOutcome per order, in the orders' order."""
    known = set(market.symbols)
    unknown = sorted({o.symbol for o in orders} - known)
    if unknown:
        raise OrdersInputError(f"orders for symbols the market does not have: {unknown} (market: {sorted(known)})")
    decided = arrivals(timeline, [(o.symbol, o.submitted_ns) for o in orders], baseline_order(cfg.paper), cfg.rules)
    base_policy = baseline_policy(cfg.paper)
    out = []
    for order, arrival in zip(orders, decided, strict=True):
        model, market_regime = market.model_at(order.symbol, order.submitted_ns)
        policy, stretch = advised_execution(arrival.applied, cfg.paper)
        b, a = execute_arms(model, order, base_policy, policy, stretch, order_seed(cfg.seed, order), cfg.warmup_s,
                            advised_catch_up(policy, cfg.paper))
        unit = market.unit_of(order.symbol)
        base_arm = arm(order, b, unit)
        adv_arm = rejected_arm(base_arm) if arrival.applied.risk_rejected else arm(order, a, unit)
        adv = arrival.advice or {}
        p50 = adv.get("expected_shortfall_bps_p50") if arrival.applied.applied else None
        out.append(PairOutcome(
            order_id=order.order_id, symbol=order.symbol, side=order.side, quantity=order.quantity,
            submitted_ns=order.submitted_ns, horizon_s=order.horizon_s,
            regime=market_regime or arrival.regime, liquidity_regime=arrival.regime,
            applied=arrival.applied.applied, fallback_reason=arrival.applied.fallback_reason,
            adverse_selection_risk=arrival.applied.adverse_selection_risk,
            expected_shortfall_bps_p50=float(p50) if isinstance(p50, int | float) and math.isfinite(p50) else None,
            baseline=base_arm, advised=adv_arm,
            advised_policy="risk-rejected" if arrival.applied.risk_rejected else policy_label(policy, stretch),
            advised_stretch=1.0 if arrival.applied.risk_rejected else stretch))
        step()
    return out


def default_orders(market: Market, n: int, seed: int, quantity: tuple[int, int] | None,
                   horizon: tuple[float, float]) -> list[PaperOrder]:
    """``n`` seeded parents inside the market's time range (after a short warm-up of the state).

    Sizes: the paper default (100-600 shares, lots of 10) on the simulated market; on a recording,
    2-10% of the calibrated model's market volume per minute (a recording's volume is what it is,
    and a BTC size unit is not a share), unless ``quantity`` is given.
    """
    lot = 10
    per_symbol_volume: dict[str, float] = {}
    if quantity is None:
        if market.kind == "simulated":
            quantity = (100, 600)
        elif len(market.symbols) == 1:
            model, _ = market.model_at(market.symbols[0], market.start_ns)
            vol = model.expected_market_volume(60.0)
            quantity = (max(1, round(0.02 * vol)), max(2, round(0.10 * vol)))
            lot = 1
        else:  # symbols trade different volumes: draw basis points of each one's volume, then scale
            per_symbol_volume = {s: market.model_at(s, market.start_ns)[0].expected_market_volume(60.0)
                                 for s in market.symbols}
            quantity = (200, 1000)
            lot = 1
    span = market.end_ns - market.start_ns
    start = market.start_ns + min(30_000_000_000, span // 10)
    symbols = list(market.symbols)
    spans: dict[str, tuple[int, int]] | None = None
    if len(symbols) > 1 and market.kind != "simulated":  # a recording: each symbol where it has data
        spans = symbol_spans(market.feed, symbols)
        short = [s for s in symbols if (spans[s][1] - spans[s][0]) / 1e9 < horizon[1]]
        if short and len(short) < len(symbols):
            market.notes.append(f"no generated orders for {', '.join(short)}: recorded for less than the longest "
                                f"horizon ({horizon[1]:g} s) after the warm-up")
            symbols = [s for s in symbols if s not in short]
    try:
        orders = generate_orders(seed, symbols, start, market.end_ns, n, quantity_range=quantity,
                                 lot=lot, horizon_range=horizon, spans=spans)
    except ValueError as exc:
        raise OrdersInputError(f"cannot generate orders in this market window: {exc}") from exc
    if per_symbol_volume:
        orders = [replace(o, quantity=max(1, round(o.quantity * per_symbol_volume[o.symbol] / 10_000)))
                  for o in orders]
    return orders


def symbol_spans(feed: Sequence[FeedRecord], symbols: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each symbol's first and last record time, the first moved on by the warm-up every market gets
    (30 s, or a tenth of a shorter recording) so that its orders meet a state that has seen quotes."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for r in feed:
        first.setdefault(r.symbol, r.ts_ns)
        last[r.symbol] = r.ts_ns
    out = {}
    for s in symbols:
        lo, hi = first[s], last[s]
        out[s] = (lo + min(30_000_000_000, (hi - lo) // 10), hi)
    return out


def _order_from(doc: Any, where: str) -> PaperOrder:
    if not isinstance(doc, dict):
        raise OrdersInputError(f"{where}: an order must be a JSON object")
    d = dict(doc)
    if "submitted_ns" not in d and "submitted_at" in d:
        try:
            d["submitted_ns"] = parse_ts_ns(str(d.pop("submitted_at")))
        except TimestampError as exc:
            raise OrdersInputError(f"{where}: {exc}") from exc
    d.setdefault("strategy", "replay")
    missing = [f for f in ORDER_FIELDS if f not in d]
    if missing:
        raise OrdersInputError(f"{where}: missing {missing} (need {list(ORDER_FIELDS)}; submitted_at may replace "
                               "submitted_ns)")
    try:
        return PaperOrder(str(d["order_id"]), str(d["symbol"]), str(d["side"]), int(d["quantity"]),
                          float(d["horizon_s"]), str(d["strategy"]), int(d["submitted_ns"]))
    except (TypeError, ValueError) as exc:
        raise OrdersInputError(f"{where}: {exc}") from exc


def load_orders(path: Path) -> list[PaperOrder]:
    """JSON lines (or one JSON array) of orders, sorted by arrival; ids must be unique."""
    if not path.is_file():
        raise OrdersInputError(f"orders file not found: {path}")
    text = path.read_text()
    try:
        docs = json.loads(text) if text.lstrip().startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise OrdersInputError(f"{path}: not JSON lines ({exc.msg}, line {exc.lineno})") from exc
    orders = [_order_from(d, f"{path}:{k + 1}") for k, d in enumerate(docs)]
    if not orders:
        raise OrdersInputError(f"{path}: no orders")
    ids = [o.order_id for o in orders]
    if len(set(ids)) != len(ids):
        raise OrdersInputError(f"{path}: duplicate order ids")
    return sorted(orders, key=lambda o: (o.submitted_ns, o.order_id))


def order_dict(o: PaperOrder) -> dict[str, Any]:
    return {f: getattr(o, f) for f in ORDER_FIELDS}
