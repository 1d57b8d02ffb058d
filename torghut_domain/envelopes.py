"""Torghut's JSON envelopes (TORGHUT.md) parsed into validated, typed events.

Why validation lives here and not in each consumer: a NaN price, a crossed quote or a missing field
must reach the DLQ with the same reason whichever consumer reads it, and the numbers each consumer
sees must already be trustworthy.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from streams.processor import InvalidRecord
from streams.timeutil import TimestampError, parse_ts_ns


class Quote(NamedTuple):
    symbol: str
    event_ts_ns: int
    ingest_ts_ns: int | None
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float


class Trade(NamedTuple):
    symbol: str
    event_ts_ns: int
    ingest_ts_ns: int | None
    price: float
    size: float
    trade_id: str | None


class TradeUpdate(NamedTuple):
    """An Alpaca order lifecycle event (``channel=trade_updates``).

    The parsed events are NamedTuples: built once per input record, where a frozen dataclass's
    construction cost shows in the consumers' throughput."""

    symbol: str
    event_ts_ns: int
    event: str
    order_id: str
    client_order_id: str | None
    side: str
    order_type: str | None
    qty: float | None
    filled_qty: float | None
    filled_avg_price: float | None
    limit_price: float | None
    submitted_at_ns: int | None
    fill_price: float | None
    fill_qty: float | None
    account_label: str | None


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict):
        raise InvalidRecord("wrong_envelope", f"{where} is not an object")
    if key not in mapping or mapping[key] is None:
        raise InvalidRecord("missing_field", f"{where}.{key}")
    return mapping[key]


def _number(value: Any, name: str, *, positive: bool = False, non_negative: bool = False) -> float:
    if isinstance(value, bool):
        raise InvalidRecord("bad_number", f"{name} is a boolean")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError as exc:
            raise InvalidRecord("bad_number", f"{name}={value!r}") from exc
    if not isinstance(value, int | float):
        raise InvalidRecord("bad_number", f"{name}={value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidRecord("non_finite_number", f"{name}={value!r}")
    if positive and number <= 0:
        raise InvalidRecord("non_positive_value", f"{name}={number}")
    if non_negative and number < 0:
        raise InvalidRecord("negative_value", f"{name}={number}")
    return number


_INF = float("inf")


def _positive(value: Any, name: str) -> float:
    """Fast path for the common case (a finite positive JSON number); the rest gets full diagnostics."""
    kind = type(value)
    if (kind is float or kind is int) and 0 < value < _INF:
        return float(value)
    if value is None:
        raise InvalidRecord("missing_field", f"payload.{name}")
    return _number(value, name, positive=True)


def _optional_number(value: Any, name: str) -> float | None:
    return None if value is None or value == "" else _number(value, name)


def _timestamp(value: Any, name: str) -> int:
    try:
        return parse_ts_ns(value)
    except TimestampError as exc:
        raise InvalidRecord("bad_timestamp", f"{name}: {exc}") from exc


def _optional_timestamp(value: Any, name: str) -> int | None:
    return None if value in (None, "") else _timestamp(value, name)


def _envelope(envelope: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(envelope, dict):
        raise InvalidRecord("wrong_envelope", "record is not a JSON object")
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        raise InvalidRecord("wrong_envelope", "payload missing or not an object")
    symbol = envelope.get("symbol") or payload.get("S")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRecord("missing_field", "symbol")
    return payload, symbol


def parse_quote(envelope: Any) -> Quote:
    payload, symbol = _envelope(envelope)
    bid = _positive(payload.get("bp"), "bp")
    ask = _positive(payload.get("ap"), "ap")
    bid_size = _positive(payload.get("bs"), "bs")
    ask_size = _positive(payload.get("as"), "as")
    if bid >= ask:
        raise InvalidRecord("crossed_quote", f"bid {bid} >= ask {ask}")
    event_ts = payload.get("t") or envelope.get("eventTs")
    return Quote(
        symbol=symbol,
        event_ts_ns=_timestamp(event_ts, "payload.t"),
        ingest_ts_ns=_optional_timestamp(envelope.get("ingestTs"), "ingestTs"),
        bid_price=bid,
        bid_size=bid_size,
        ask_price=ask,
        ask_size=ask_size,
    )


def parse_trade(envelope: Any) -> Trade:
    payload, symbol = _envelope(envelope)
    trade_id = payload.get("i")
    return Trade(
        symbol=symbol,
        event_ts_ns=_timestamp(payload.get("t") or envelope.get("eventTs"), "payload.t"),
        ingest_ts_ns=_optional_timestamp(envelope.get("ingestTs"), "ingestTs"),
        price=_number(_require(payload, "p", "payload"), "p", positive=True),
        size=_number(_require(payload, "s", "payload"), "s", positive=True),
        trade_id=None if trade_id is None else str(trade_id),
    )


def parse_trade_update(envelope: Any) -> TradeUpdate:
    payload, symbol = _envelope(envelope)
    order = _require(payload, "order", "payload")
    if not isinstance(order, dict):
        raise InvalidRecord("wrong_envelope", "payload.order is not an object")
    event = str(_require(payload, "event", "payload"))
    side = str(_require(order, "side", "payload.order")).lower()
    if side not in ("buy", "sell"):
        raise InvalidRecord("bad_enum", f"payload.order.side={side!r}")
    fill_price = _optional_number(payload.get("price"), "payload.price")
    fill_qty = _optional_number(payload.get("qty"), "payload.qty")
    if fill_price is not None and fill_price <= 0:
        raise InvalidRecord("non_positive_value", f"payload.price={fill_price}")
    if fill_qty is not None and fill_qty < 0:
        raise InvalidRecord("negative_value", f"payload.qty={fill_qty}")
    return TradeUpdate(
        symbol=str(order.get("symbol") or symbol),
        event_ts_ns=_timestamp(payload.get("timestamp") or envelope.get("eventTs"), "payload.timestamp"),
        event=event,
        order_id=str(_require(order, "id", "payload.order")),
        client_order_id=order.get("client_order_id"),
        side=side,
        order_type=order.get("type"),
        qty=_optional_number(order.get("qty"), "payload.order.qty"),
        filled_qty=_optional_number(order.get("filled_qty"), "payload.order.filled_qty"),
        filled_avg_price=_optional_number(order.get("filled_avg_price"), "payload.order.filled_avg_price"),
        limit_price=_optional_number(order.get("limit_price"), "payload.order.limit_price"),
        submitted_at_ns=_optional_timestamp(order.get("submitted_at"), "payload.order.submitted_at"),
        fill_price=fill_price,
        fill_qty=fill_qty,
        account_label=envelope.get("accountLabel"),
    )
