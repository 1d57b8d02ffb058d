"""Validation of the simulation consumer's inputs: a bad record becomes InvalidRecord (the DLQ) with
a stable reason, never an exception from deep inside the simulator."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from streams.processor import InvalidRecord
from streams.timeutil import TimestampError, parse_ts_ns


def number(value: Any, field: str, *, positive: bool = True) -> float:
    """A finite number (Torghut may send decimal strings); ``positive`` requires > 0."""
    if isinstance(value, bool):
        raise InvalidRecord("bad_number", field)
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidRecord("bad_number", field) from None
    if not math.isfinite(out):
        raise InvalidRecord("non_finite_number", field)
    if positive and out <= 0:
        raise InvalidRecord("non_positive_number", field)
    return out


def timestamp(value: Any, field: str) -> int:
    if not isinstance(value, str):
        raise InvalidRecord("bad_timestamp", field)
    try:
        return parse_ts_ns(value)
    except TimestampError:
        raise InvalidRecord("bad_timestamp", field) from None


def envelope(value: Any) -> tuple[str, dict[str, Any]]:
    """(symbol, payload) of a Torghut JSON envelope."""
    if not isinstance(value, Mapping):
        raise InvalidRecord("wrong_envelope", "not an object")
    payload = value.get("payload")
    if not isinstance(payload, Mapping):
        raise InvalidRecord("wrong_envelope", "no payload object")
    symbol = value.get("symbol") or payload.get("S")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRecord("missing_field", "symbol")
    return symbol, dict(payload)


def event_time(env: Mapping[str, Any], payload: Mapping[str, Any], payload_field: str) -> int:
    ts = payload.get(payload_field) if payload.get(payload_field) is not None else env.get("eventTs")
    return timestamp(ts, f"payload.{payload_field}|eventTs")


def quote(value: Any) -> tuple[str, list[float | int]]:
    """(symbol, window event ``[t_ns, bid, bid size, ask, ask size]``)."""
    symbol, p = envelope(value)
    t = event_time(value, p, "t")
    bid, ask = number(p.get("bp"), "bp"), number(p.get("ap"), "ap")
    bs, as_ = number(p.get("bs"), "bs", positive=False), number(p.get("as"), "as", positive=False)
    if ask <= bid:
        raise InvalidRecord("crossed_quote", f"bid {bid} >= ask {ask}")
    return symbol, [t, bid, bs, ask, as_]


def trade(value: Any) -> tuple[str, list[float | int]]:
    """(symbol, window event ``[t_ns, price, size]``)."""
    symbol, p = envelope(value)
    t = event_time(value, p, "t")
    return symbol, [t, number(p.get("p"), "p"), number(p.get("s"), "s")]


def book_top(value: Any) -> tuple[str, list[float | int] | None]:
    """(symbol, the L2 snapshot's top of book as a quote event, or None for a one-sided book)."""
    if not isinstance(value, Mapping):
        raise InvalidRecord("wrong_envelope", "book record is not an object")
    symbol = value.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRecord("missing_field", "symbol")
    t = timestamp(value.get("event_ts"), "event_ts")
    bids, asks = value.get("bids") or [], value.get("asks") or []
    if not bids or not asks:
        return symbol, None
    bid, ask = number(bids[0].get("price"), "bids[0].price"), number(asks[0].get("price"), "asks[0].price")
    if ask <= bid:
        raise InvalidRecord("crossed_book", f"bid {bid} >= ask {ask}")
    return symbol, [t, bid, number(bids[0].get("size"), "bids[0].size", positive=False), ask,
                    number(asks[0].get("size"), "asks[0].size", positive=False)]


def new_order(value: Any) -> dict[str, Any] | None:
    """A ``new`` trade update -> {id, symbol, side, qty, type, t}; None for any other event."""
    symbol, p = envelope(value)
    if p.get("event") != "new":
        return None
    order = p.get("order")
    if not isinstance(order, Mapping):
        raise InvalidRecord("missing_field", "payload.order")
    oid = order.get("id")
    if not isinstance(oid, str) or not oid:
        raise InvalidRecord("missing_field", "payload.order.id")
    side = order.get("side")
    if side not in ("buy", "sell"):
        raise InvalidRecord("bad_side", str(side))
    osym = order.get("symbol") or symbol
    if osym != symbol:
        raise InvalidRecord("symbol_mismatch", f"envelope {symbol} vs order {osym}")
    return {"id": oid, "symbol": symbol, "side": side, "qty": number(order.get("qty"), "payload.order.qty"),
            "type": str(order.get("type") or "limit"), "t": event_time(value, p, "timestamp")}
