"""The split book: one parent worked twice on the same simulated market, and its order events.

Stable API (the replay report depends on it): :func:`order_seed`, :func:`execute_pair`,
:func:`execute_arms` (the advised arm over its stretched horizon: Torghut gives a tightened order
1-3x the time, ``policy_map.advised_execution``; the order flow is drawn once for the longer
horizon and the baseline replays its prefix, so both arms still see the same market),
:func:`trade_updates`, :func:`full_shortfall_bps`, :data:`ARMS`.

Why the same seed for both arms: the comparison must be counterfactual. Both arms replay the
same order flow (Hawkes stream) and the same book randomness, so any difference in their results
is caused by the policy alone; with identical policies the two results are identical (tested).
Our child orders do interact with the book (queue positions, depletion), which is the point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from producers.paper.orders import NS_PER_S, PaperOrder
from producers.simulated_market.seeding import seed_sequence
from producers.torghut_envelopes import trade_update_envelope
from simulator.execution.catchup import CatchUp
from simulator.execution.policy import ExecutionPolicy
from simulator.execution.run import ExecutionResult, PathRunner
from simulator.market.flow import draw_flow
from simulator.market.model import MarketModel
from streams.timeutil import format_ts_ns

ARMS = ("baseline", "advisor")
DEFAULT_WARMUP_S = 60.0


def order_seed(run_seed: int, order: PaperOrder) -> np.random.SeedSequence:
    """The market seed of ``order``'s counterfactual path: (run seed, "order", parent id)."""
    return seed_sequence(run_seed, "order", order.order_id)


def _fresh(ss: np.random.SeedSequence) -> np.random.SeedSequence:
    """An unspawned copy: ``PathRunner`` spawns children, which advances the original's counter."""
    return np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size)


def execute_pair(model: MarketModel, order: PaperOrder, baseline: ExecutionPolicy, advised: ExecutionPolicy,
                 seed: np.random.SeedSequence, warmup_s: float = DEFAULT_WARMUP_S,
                 ) -> tuple[ExecutionResult, ExecutionResult]:
    """(baseline result, advised result) of ``order`` on one market path of ``model``.

    The path warms up for ``warmup_s`` seconds before the parent arrives; both arms start from a
    copy of ``seed`` in its unspawned state, so they see the same market.
    """
    parent = order.parent()
    results = [PathRunner(model, parent, policy, warmup_s).run(_fresh(seed))[0] for policy in (baseline, advised)]
    return results[0], results[1]


def stretched_order(order: PaperOrder, stretch: float) -> PaperOrder:
    """``order`` with its horizon multiplied by ``stretch`` (same id, arrival, size)."""
    return PaperOrder(order.order_id, order.symbol, order.side, order.quantity, order.horizon_s * stretch,
                      order.strategy, order.submitted_ns)


def execute_arms(model: MarketModel, order: PaperOrder, baseline: ExecutionPolicy, advised: ExecutionPolicy,
                 stretch: float, seed: np.random.SeedSequence, warmup_s: float, catch_up: CatchUp | None = None,
                 ) -> tuple[ExecutionResult, ExecutionResult]:
    """(baseline result over ``order.horizon_s``, advised result over ``stretch`` times that).

    ``catch_up`` (``policy_map.advised_catch_up``): the passive advised arm crosses its deficit against
    its own advised schedule (simulator.execution.catchup) at the baseline's marketable tolerance."""
    base, (adv,) = execute_arms_variants(model, order, baseline, advised, stretch, seed, warmup_s, (catch_up,))
    return base, adv


def execute_arms_variants(model: MarketModel, order: PaperOrder, baseline: ExecutionPolicy,
                          advised: ExecutionPolicy, stretch: float, seed: np.random.SeedSequence, warmup_s: float,
                          catch_ups: Sequence[CatchUp | None]) -> tuple[ExecutionResult, list[ExecutionResult]]:
    """:func:`execute_arms` for several catch-up variants of the advised arm at once: (the baseline
    result, one advised result per ``catch_ups`` entry), each exactly what :func:`execute_arms` gives
    with that catch-up. Why: tuning the catch-up runs dozens of variants per order, and the market's
    flow and the baseline arm do not depend on the variant, so they are drawn and run once."""
    if stretch < 1.0:
        raise ValueError(f"stretch must be >= 1, got {stretch}")
    adv_parent = stretched_order(order, stretch).parent()
    runners = [PathRunner(model, order.parent(), baseline, warmup_s),
               *(PathRunner(model, adv_parent, advised, warmup_s, catch_up=cu,
                            catch_up_offset_bps=baseline.quote_offset_bps) for cu in catch_ups)]
    flow_ss, _ = _fresh(seed).spawn(2)
    t_total = max(r.t_total for r in runners)
    ev = draw_flow(model, t_total, np.random.Generator(np.random.PCG64(flow_ss)))  # multi-scale aware
    out = []
    for r in runners:
        keep = ev.times <= r.t_total
        out.append(r.run(_fresh(seed), (ev.times[keep], ev.dims[keep]))[0])
    return out[0], out[1:]


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def trade_updates(order: PaperOrder, result: ExecutionResult, arm: str, *, price_shift: float = 0.0,
                  order_type: str = "market", entry_latency_s: float = 0.010,
                  tick_size: float | None = None) -> list[dict[str, Any]]:
    """Torghut trade-update envelopes (``channel=trade_updates``, version 2) of one arm's execution.

    Events: ``new`` at arrival + ``entry_latency_s``; one ``partial_fill`` per fill (the last one
    that completes the quantity is ``fill``), each with the fill's ``price``/``qty`` and the
    order's cumulative ``filled_qty``/``filled_avg_price``; when the horizon ends with shares
    left, ``canceled`` at arrival + horizon (the algo cancels its remainder). ``order.id`` is
    ``<parent>-<arm>``, ``accountLabel`` is ``arm``, ``order.submitted_at`` the arrival, and the
    ``client_order_id`` carries the strategy label. ``price_shift`` moves every price (rounded to
    ``tick_size`` when given): the executor puts the path's arrival mid on the live feed's.
    """
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, not {arm!r}")
    if tick_size is not None and tick_size > 0:
        price_shift = round(price_shift / tick_size) * tick_size
    oid = order.arm_order_id(arm)
    t0 = order.submitted_ns

    def envelope(ts: int, event: str, filled: int, avg: float | None, price: float | None,
                 qty: float | None, seq: int) -> dict[str, Any]:
        env = trade_update_envelope(order.symbol, ts, event, order_id=oid, side=order.side, order_type=order_type,
                                    qty=float(order.quantity), filled_qty=float(filled), submitted_at_ns=t0,
                                    fill_price=price, fill_qty=qty, account_label=arm, seq=seq)
        o = env["payload"]["order"]
        o["client_order_id"] = f"{order.strategy}-{oid}"
        o["qty"], o["filled_qty"] = str(order.quantity), str(filled)
        o["filled_avg_price"] = None if avg is None else _num(avg)
        o["filled_at"] = format_ts_ns(ts) if event == "fill" else None
        env["payload"]["position_qty"] = str(filled if order.side == "buy" else -filled)
        if price is not None:
            env["payload"]["price"] = _num(price)
        return env

    out = [envelope(t0 + round(entry_latency_s * NS_PER_S), "new", 0, None, None, None, 0)]
    filled = 0
    notional = 0.0
    for t, px, shares in result.fills:
        q = int(shares)
        if q <= 0:
            continue
        price = round(float(px) + price_shift, 6)
        filled += q
        notional += price * q
        event = "fill" if filled >= order.quantity else "partial_fill"
        ts = t0 + round(max(0.0, float(t)) * NS_PER_S)
        out.append(envelope(ts, event, filled, notional / filled, price, float(q), len(out)))
    if filled < order.quantity:
        avg = notional / filled if filled else None
        out.append(envelope(order.end_ns, "canceled", filled, avg, None, None, len(out)))
    return out


def full_shortfall_bps(order: PaperOrder, result: ExecutionResult) -> float:
    """Implementation shortfall of the *whole* parent in bps of arrival notional: fills at their
    prices plus the unfilled remainder marked at the path's end mid (its opportunity cost).

    Why beside Torghut's ``slippage_bps`` (fills only): an arm that fills less can show cheaper
    fills while leaving the expensive part undone; this number charges it for that.
    """
    q = order.quantity
    filled_cost = 0.0 if result.filled_qty == 0 else result.avg_fill_price * result.filled_qty
    cost = filled_cost + (q - result.filled_qty) * result.end_mid
    d = 1 if order.side == "buy" else -1
    return d * (cost - q * result.arrival_mid) / (q * result.arrival_mid) * 1e4


def arm_summary(order: PaperOrder, result: ExecutionResult) -> dict[str, Any]:
    """The numbers the report needs per arm, in Torghut's bps convention."""
    return {"order_id": order.order_id, "symbol": order.symbol, "side": order.side, "quantity": order.quantity,
            "filled_qty": result.filled_qty, "fill_ratio": result.fill_ratio,
            "shortfall_bps": None if math.isnan(result.shortfall_bps) else result.shortfall_bps,
            "full_shortfall_bps": full_shortfall_bps(order, result), "child_orders": result.child_orders}
