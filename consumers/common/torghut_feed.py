"""Torghut-format JSON envelopes (TORGHUT.md) for tests, offline replays and benchmarks.

Why here and not in a test file: the offline-driver tests, the lead's Kafka integration tests and
the throughput benchmark all need the same, exactly Torghut-shaped input; one builder keeps them
in agreement. Everything is deterministic (a seeded ``random.Random``), never wall-clock based.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from streams.processor import SourceRecord
from streams.timeutil import format_ts_ns
from streams.topics import topic

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


def synthetic_market(symbols: list[str], n_events: int, *, seed: int = 7, start_ns: int = 1_767_000_000 * 10**9,
                     step_ms: float = 10.0, trade_every: int = 5, order_every: int = 0,
                     partitions: int = 1) -> Iterator[SourceRecord]:
    """A deterministic interleaved quote/trade(/trade-update) stream over ``symbols`` as SourceRecords.

    Each step picks a symbol, moves its mid by -1/0/+1 cents and its touch sizes at random; every
    ``trade_every``-th event is a trade at the touch instead, and with ``order_every`` > 0 every
    ``order_every``-th event is the acknowledgement (``new``) of one of our limit orders submitted
    20-60 ms earlier. Partition = symbol's position modulo ``partitions``, so per-symbol order is
    preserved as on a symbol-keyed topic.
    """
    rng = random.Random(seed)
    mids = {s: 100.0 + 10.0 * i for i, s in enumerate(symbols)}
    q_topic, t_topic, u_topic = topic("quotes"), topic("trades"), topic("trade_updates")
    offsets: dict[tuple[str, int], int] = {}
    for n in range(n_events):
        symbol = symbols[rng.randrange(len(symbols))]
        partition = symbols.index(symbol) % partitions
        ts = start_ns + int(n * step_ms * NS_PER_MS)
        mid = mids[symbol] = round(mids[symbol] + rng.choice((-0.01, 0.0, 0.0, 0.01)), 2)
        half = 0.01 * rng.choice((1, 1, 1, 2))
        if order_every and n % order_every == order_every - 1:
            value = trade_update_envelope(symbol, ts, "new", order_id=f"o{n}", limit_price=round(mid - half, 2),
                                          submitted_at_ns=ts - rng.randrange(20, 60) * NS_PER_MS, seq=n)
            tp = u_topic
        elif n % trade_every == trade_every - 1:
            price = round(mid - half if rng.random() < 0.5 else mid + half, 2)
            value = trade_envelope(symbol, ts, price, float(rng.randrange(1, 5) * 100), trade_id=n, seq=n)
            tp = t_topic
        else:
            value = quote_envelope(symbol, ts, round(mid - half, 2), float(rng.randrange(1, 20) * 100),
                                   round(mid + half, 2), float(rng.randrange(1, 20) * 100), seq=n)
            tp = q_topic
        offset = offsets.get((tp, partition), 0)
        offsets[(tp, partition)] = offset + 1
        yield SourceRecord(tp, partition, offset, ts // NS_PER_MS, symbol, value)
