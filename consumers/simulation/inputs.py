"""Validation of the simulation consumer's inputs: a bad record becomes InvalidRecord (the DLQ) with
a stable reason, never an exception from deep inside the simulator."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from streams.processor import InvalidRecord
from streams.timeutil import TimestampError, parse_ts_ns
from torghut_domain.envelopes import Quote, parse_quote, parse_trade, parse_trade_update


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


def quote(value: Any) -> tuple[str, list[float | int]]:
    """(symbol, window event ``[t_ns, bid, bid size, ask, ask size]``), through the one Torghut quote
    parser (torghut_domain.envelopes), so a quote the state consumer refuses is refused here for the same
    reason."""
    q = value if type(value) is Quote else parse_quote(value)
    return q.symbol, [q.event_ts_ns, q.bid_price, q.bid_size, q.ask_price, q.ask_size]


def trade(value: Any) -> tuple[str, list[float | int]]:
    """(symbol, window event ``[t_ns, price, size]``)."""
    t = parse_trade(value)
    return t.symbol, [t.event_ts_ns, t.price, t.size]


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
    u = parse_trade_update(value)
    if u.event != "new":
        return None
    if not u.order_id:
        raise InvalidRecord("missing_field", "payload.order.id")
    if u.qty is None:
        raise InvalidRecord("missing_field", "payload.order.qty")
    if not u.qty > 0:
        raise InvalidRecord("non_positive_number", "payload.order.qty")
    return {"id": u.order_id, "symbol": u.symbol, "side": u.side, "qty": u.qty,
            "type": u.order_type or "limit", "t": u.event_ts_ns}
