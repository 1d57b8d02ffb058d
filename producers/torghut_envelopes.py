"""Builders of Torghut-format JSON envelopes (TORGHUT.md): Alpaca quotes, trades and trade updates.

Why in the product: the paper executor (producers/paper/split_book.py) and the divergence drill
(microexec/drill.py) emit exactly these envelopes, and the tests and benchmarks build their input
with the same functions, so both sides agree on the shape byte for byte. The synthetic market the
tests and benchmarks draw from lives with them (tests/support/synthetic_market.py), not here.
(producers/records.py builds the feed replays' envelopes, whose exchange and condition fields come
from the recorded data instead of these Alpaca-like defaults.)
"""

from __future__ import annotations

from typing import Any

from streams.timeutil import format_ts_ns

NS_PER_MS = 1_000_000


def _envelope(symbol: str, channel: str, event_ts_ns: int, ingest_lag_ms: float | None, seq: int,
              payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "ingestTs": None if ingest_lag_ms is None else format_ts_ns(event_ts_ns + int(ingest_lag_ms * NS_PER_MS)),
        "eventTs": format_ts_ns(event_ts_ns),
        "feed": "sip" if channel != "trade_updates" else "alpaca",
        "channel": channel,
        "symbol": symbol,
        "seq": seq,
        "payload": payload,
        "isFinal": True,
        "source": "ws",
        "version": 1,
    }
    env.update(extra)
    return env


def quote_envelope(symbol: str, event_ts_ns: int, bid: float, bid_size: float, ask: float, ask_size: float,
                   *, ingest_lag_ms: float | None = 5.0, seq: int = 0) -> dict[str, Any]:
    """An Alpaca quote (``T=q``) inside Torghut's envelope."""
    payload = {"T": "q", "S": symbol, "bx": "V", "bp": bid, "bs": bid_size, "ax": "V", "ap": ask,
               "as": ask_size, "c": ["R"], "t": format_ts_ns(event_ts_ns), "z": "C"}
    return _envelope(symbol, "quotes", event_ts_ns, ingest_lag_ms, seq, payload)


def trade_envelope(symbol: str, event_ts_ns: int, price: float, size: float, *, trade_id: int = 1,
                   ingest_lag_ms: float | None = 5.0, seq: int = 0) -> dict[str, Any]:
    """An Alpaca trade (``T=t``) inside Torghut's envelope."""
    payload = {"T": "t", "S": symbol, "i": trade_id, "x": "V", "p": price, "s": size, "c": ["@"],
               "t": format_ts_ns(event_ts_ns), "z": "C"}
    return _envelope(symbol, "trades", event_ts_ns, ingest_lag_ms, seq, payload)


def trade_update_envelope(symbol: str, event_ts_ns: int, event: str, *, order_id: str, side: str = "buy",
                          order_type: str = "limit", qty: float = 100.0, filled_qty: float = 0.0,
                          submitted_at_ns: int | None = None, limit_price: float | None = None,
                          fill_price: float | None = None, fill_qty: float | None = None,
                          account_label: str = "paper", seq: int = 0) -> dict[str, Any]:
    """An Alpaca trade update (``channel=trade_updates``, ``version=2``)."""
    order = {
        "id": order_id, "client_order_id": f"c-{order_id}", "symbol": symbol, "side": side, "qty": str(qty),
        "filled_qty": str(filled_qty), "filled_avg_price": None if fill_price is None else str(fill_price),
        "type": order_type, "limit_price": None if limit_price is None else str(limit_price),
        "submitted_at": None if submitted_at_ns is None else format_ts_ns(submitted_at_ns),
        "filled_at": None, "status": event,
    }
    payload: dict[str, Any] = {"event": event, "timestamp": format_ts_ns(event_ts_ns), "order": order,
                               "position_qty": str(filled_qty)}
    if fill_price is not None:
        payload["price"] = str(fill_price)
    if fill_qty is not None:
        payload["qty"] = str(fill_qty)
    env = _envelope(symbol, "trade_updates", event_ts_ns, None, seq, payload, accountLabel=account_label)
    env["version"] = 2
    return env
