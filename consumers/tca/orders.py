"""One order's join, as pure functions over its JSON state: trade updates, the simulated
distribution and the arrival quote in, the ``tca_divergence_v1`` values out.

Why pure functions over a dict: the state lives in the changelog, and the same inputs in any arrival
order must give the same record. Everything kept is therefore order-free: fills are a de-duplicated
set kept sorted, sums use ``math.fsum`` (exact, so the order of addition cannot change a bit of the
average), and a value that several updates carry (quantity, limit price, label) is taken from the
completion event when there is one, else from the first update that carries it.

State of an open order (short keys: this is the changelog payload):
``sym side qty lim sub lbl cid`` order fields; ``fills`` sorted ``[ts, cum_filled_qty, price, qty]``;
``done`` the completion event ``{t, ev, fq, fp, qty, lbl}`` or None; ``dist`` the distribution
``{p50, p95, ver, reg, ok}`` or None; ``arr`` ``[ts, mid]`` of the arrival quote and ``set`` whether
it is settled (a quote after ``submitted_at`` has been seen, so no later quote can be the arrival
one); ``last`` the newest event time of the order (for its time to live).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from simulator.execution.tca import shortfall_notional, slippage_bps
from streams.processor import InvalidRecord
from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns
from torghut_domain.envelopes import TradeUpdate

FILL_EVENTS = frozenset({"fill", "partial_fill"})
# Alpaca's "fill" is the final fill: the order is complete. done_for_day ends the order's day.
COMPLETION_EVENTS = frozenset({"fill", "canceled", "expired", "rejected", "done_for_day"})
SCHEMA_VERSION = "tca_divergence_v1"

Order = dict[str, Any]


class Distribution(NamedTuple):
    """The validated fields of a per-order ``shortfall_distribution_v1`` record."""

    order_id: str
    symbol: str
    side: str | None
    event_ts_ns: int
    p50: float | None  # None only when not ok
    p95: float | None
    simulator_version: str
    regime: str | None
    ok: bool  # False: the Monte Carlo did not run (status other than "ok"): counts as missing


def new_order(symbol: str) -> Order:
    return {"sym": symbol, "side": None, "qty": None, "lim": None, "sub": None, "lbl": None, "cid": None,
            "fills": [], "done": None, "dist": None, "arr": None, "set": False, "last": None}


def _first(current: Any, value: Any) -> Any:
    return current if current is not None else value


def _text(value: Any) -> str | None:
    """An optional string field of the envelope (a number sent as an id still reads as text)."""
    return None if value is None or value == "" else str(value)


def apply_update(order: Order | None, u: TradeUpdate, max_fills: int) -> Order:
    """The order after trade update ``u`` (a new dict; ``order`` is not modified)."""
    o = dict(order) if order is not None else new_order(u.symbol)
    o["side"] = _first(o["side"], u.side)
    o["sub"] = _first(o["sub"], u.submitted_at_ns)
    o["qty"] = _first(o["qty"], u.qty)
    o["lim"] = _first(o["lim"], u.limit_price)
    o["lbl"] = _first(o["lbl"], _text(u.account_label))
    o["cid"] = _first(o["cid"], _text(u.client_order_id))
    o["last"] = u.event_ts_ns if o["last"] is None else max(o["last"], u.event_ts_ns)
    if u.event in FILL_EVENTS and u.fill_price is not None and u.fill_qty is not None and u.fill_qty > 0:
        fill = [u.event_ts_ns, -1.0 if u.filled_qty is None else u.filled_qty, u.fill_price, u.fill_qty]
        if fill not in o["fills"]:  # a redelivered update is the same fill, not a second one
            if len(o["fills"]) >= max_fills:
                raise InvalidRecord("too_many_fills", f"order {u.order_id} has {max_fills} fills already")
            o["fills"] = sorted([*o["fills"], fill])
    if u.event in COMPLETION_EVENTS:
        done = {"t": u.event_ts_ns, "ev": u.event, "fq": u.filled_qty, "fp": u.filled_avg_price, "qty": u.qty,
                "lbl": _text(u.account_label), "lim": u.limit_price}
        current = o["done"]
        if current is None or (done["t"], done["ev"]) < (current["t"], current["ev"]):
            o["done"] = done  # two completions (should not happen): the earliest, whatever the arrival order
    return o


def apply_distribution(order: Order | None, d: Distribution) -> Order:
    """The order with distribution ``d``; an ok distribution replaces a not-run one, never the reverse,
    and of two ok ones the first is kept (the simulator publishes one per order)."""
    o = dict(order) if order is not None else new_order(d.symbol)
    o["side"] = _first(o["side"], d.side)
    current = o["dist"]
    if current is None or (d.ok and not current["ok"]):
        o["dist"] = {"p50": d.p50, "p95": d.p95, "ver": d.simulator_version, "reg": d.regime, "ok": d.ok}
    return o


def fills_complete(o: Order, tolerance: float) -> bool:
    """The per-fill updates add up to the filled quantity the completion event reports."""
    done = o["done"]
    if done is None:
        return False
    final = done["fq"]
    if final is None:
        return True  # nothing to check against
    summed = math.fsum(f[3] for f in o["fills"])
    return abs(summed - final) <= tolerance * max(1.0, abs(final))


def ready(o: Order, tolerance: float) -> bool:
    """Everything the record needs is here: completion, all fills, a usable distribution, and a
    settled arrival quote (or no submitted_at, so no quote could ever be the arrival one).

    A "not run" distribution counts as missing, exactly as no distribution: the order waits for the
    deadline like one without, so that a usable record arriving after it still wins, whichever came
    first."""
    dist = o["dist"]
    return (o["done"] is not None and dist is not None and dist["ok"] and (o["set"] or o["sub"] is None)
            and fills_complete(o, tolerance))


class Realized(NamedTuple):
    avg_fill: float
    filled_qty: float
    fill_source: str  # fills: per-fill updates; order: the order's filled_qty / filled_avg_price
    avg_mismatch: bool  # per-fill average disagrees with the order's filled_avg_price


def realized_fills(o: Order, tolerance: float) -> Realized | None:
    """Average fill price and filled quantity; None when the order filled nothing.

    Per-fill updates (``payload.price``, ``payload.qty``) are used when they add up to the order's
    final ``filled_qty``; otherwise (a fill update missing or refused) the order's own
    ``filled_qty`` and ``filled_avg_price`` from the completion event."""
    done = o["done"] or {}
    fills = o["fills"]
    final_qty, final_avg = done.get("fq"), done.get("fp")
    if fills and fills_complete(o, tolerance):
        qty = math.fsum(f[3] for f in fills)
        avg = math.fsum(f[2] * f[3] for f in fills) / qty
        mismatch = final_avg is not None and abs(avg - final_avg) > 1e-6 * abs(final_avg)
        return Realized(avg, qty, "fills", mismatch)
    if final_qty is not None and final_qty > 0 and final_avg is not None and final_avg > 0:
        return Realized(final_avg, final_qty, "order", False)
    if fills:  # no usable order aggregate: what the fills say
        qty = math.fsum(f[3] for f in fills)
        return Realized(math.fsum(f[2] * f[3] for f in fills) / qty, qty, "fills", False)
    return None


def arrival(o: Order, realized: Realized) -> tuple[float, str]:
    """Decision arrival price (the mid of the latest quote at or before submitted_at), else the
    reference price: the limit price, else the first fill's price, else the average fill price."""
    if o["arr"] is not None:
        return float(o["arr"][1]), "quote_mid"
    limit = (o["done"] or {}).get("lim") or o["lim"]
    if limit is not None and limit > 0:
        return float(limit), "limit_price"
    if o["fills"]:
        return float(o["fills"][0][2]), "first_fill"
    return realized.avg_fill, "avg_fill"


def divergence_values(order_id: str, o: Order, realized: Realized, regime: str | None) -> dict[str, Any]:
    """The ``tca_divergence_v1`` fields of the order, with TORGHUT.md's arithmetic (window fields are
    filled by the caller)."""
    done = o["done"]
    assert done is not None
    side = o["side"]
    direction = 1 if side == "buy" else -1
    arrival_price, arrival_source = arrival(o, realized)
    slip = slippage_bps(direction, realized.avg_fill, arrival_price)
    notional = shortfall_notional(direction, realized.avg_fill, arrival_price, realized.filled_qty)
    dist = o["dist"]
    has_dist = dist is not None and dist["ok"]
    qty = done.get("qty") or o["qty"]
    label = done.get("lbl") or o["lbl"]
    return {
        "schema_version": SCHEMA_VERSION,
        "symbol": o["sym"],
        "order_id": order_id,
        "client_order_id": o["cid"],
        "side": side,
        "event_ts": format_ts_ns(done["t"]),
        "arrival_price": arrival_price,
        "avg_fill_price": realized.avg_fill,
        "filled_qty": realized.filled_qty,
        "slippage_bps": slip,
        "shortfall_notional": notional,
        "realized_shortfall_bps": slip,
        "expected_shortfall_bps_p50": dist["p50"] if has_dist else None,
        "expected_shortfall_bps_p95": dist["p95"] if has_dist else None,
        "divergence_bps": slip - dist["p50"] if has_dist else None,
        "simulator_version": dist["ver"] if has_dist else None,
        "liquidity_regime": regime if regime is not None else (dist or {}).get("reg"),
        "strategy": label,
        "window_mean_abs_divergence_bps": None,
        "recalibration_requested": False,
        "expected_missing": not has_dist,
        "fill_ratio": realized.filled_qty / qty if qty else None,
        "arrival_source": arrival_source,
        "fill_source": realized.fill_source,
        "submitted_at": None if o["sub"] is None else format_ts_ns(o["sub"]),
        "completion_event": done["ev"],
        "window_closed": False,
        "drift_windows": 0,
    }


def parse_distribution(value: Any) -> Distribution | None:
    """A shortfall record -> Distribution; None for a reference order (not per order). Bad input is
    InvalidRecord. A ``status`` other than "ok" (the Monte Carlo was not run, or over budget) gives
    ``ok=False``; records written before the field existed read as "ok"."""
    if not isinstance(value, Mapping):
        raise InvalidRecord("wrong_envelope", "shortfall record is not an object")
    if value.get("is_reference_order", False):
        return None
    order_id, symbol = value.get("order_id"), value.get("symbol")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidRecord("missing_field", "order_id")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRecord("missing_field", "symbol")
    try:
        ts = parse_ts_ns(value.get("event_ts"))  # type: ignore[arg-type]
    except (TimestampError, TypeError) as exc:
        raise InvalidRecord("bad_timestamp", f"event_ts: {exc}") from exc
    status = value.get("status", "ok")
    ok = status is None or (isinstance(status, str) and status.lower() == "ok")
    p50, p95 = _finite(value.get("shortfall_bps_p50")), _finite(value.get("shortfall_bps_p95"))
    finite = p50 is not None and p95 is not None
    if ok and not finite:
        raise InvalidRecord("non_finite_number", "shortfall_bps_p50/p95")
    version = value.get("simulator_version")
    if ok and not isinstance(version, str):
        raise InvalidRecord("missing_field", "simulator_version")
    side = value.get("side")
    regime = value.get("liquidity_regime")
    return Distribution(order_id, symbol, side.lower() if isinstance(side, str) else None, ts,
                        p50 if finite else None, p95 if finite else None,
                        version if isinstance(version, str) else "", regime if isinstance(regime, str) else None,
                        ok)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
