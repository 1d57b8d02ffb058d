from __future__ import annotations

import json

import pytest

from streams.processor import InvalidRecord
from streams.timeutil import format_ts_ns, parse_ts_ns
from tests.support.feeds import quote_envelope
from torghut_domain.envelopes import parse_quote, parse_trade, parse_trade_update


def test_rfc3339_nanoseconds_and_offsets() -> None:
    assert parse_ts_ns("1970-01-01T00:00:01.000000001Z") == 1_000_000_001
    assert parse_ts_ns("1970-01-01T01:00:01.5+01:00") == 1_500_000_000
    assert parse_ts_ns("2024-01-02T14:30:00Z") == 1_704_205_800_000_000_000
    assert format_ts_ns(1_704_205_800_123_456_789) == "2024-01-02T14:30:00.123456Z"
    for bad in ("2024-01-02T14:30:00", "yesterday", "2024-01-02T14:30:00.1234567890Z", 12):
        with pytest.raises(ValueError):
            parse_ts_ns(bad)  # type: ignore[arg-type]


def test_quote_parses_and_validates() -> None:
    env = quote_envelope("NVDA", 1_704_205_800_000_000_000, 10.0, 10.02, 300, 500, 1)
    q = parse_quote(json.loads(json.dumps(env)))
    assert (q.symbol, q.bid_price, q.ask_price, q.bid_size, q.ask_size) == ("NVDA", 10.0, 10.02, 300, 500)
    assert q.ingest_ts_ns == q.event_ts_ns + 2_000_000
    env["payload"]["bp"] = "10.01"  # decimal strings are accepted, as Torghut emits them
    assert parse_quote(env).bid_price == 10.01


@pytest.mark.parametrize(("change", "reason"), [
    ({"bp": None}, "missing_field"),
    ({"bp": float("nan")}, "non_finite_number"),
    ({"ap": 0}, "non_positive_value"),
    ({"bs": -1}, "non_positive_value"),
    ({"bp": 10.5, "ap": 10.4}, "crossed_quote"),
    ({"bp": 10.4, "ap": 10.4}, "crossed_quote"),
    ({"bp": "ten"}, "bad_number"),
    ({"bp": True}, "bad_number"),
    ({"t": "not a time"}, "bad_timestamp"),
])
def test_quote_rejections(change: dict[str, object], reason: str) -> None:
    env = quote_envelope("NVDA", 1_704_205_800_000_000_000, 10.0, 10.02, 300, 500, 1)
    env["payload"].update(change)
    with pytest.raises(InvalidRecord) as exc:
        parse_quote(env)
    assert exc.value.reason == reason


def test_wrong_envelopes() -> None:
    envs: list[object] = [[1, 2], {"symbol": "X"}, {"symbol": "X", "payload": "q"}, {"payload": {}}]
    for env in envs:
        with pytest.raises(InvalidRecord) as exc:
            parse_quote(env)
        assert exc.value.reason in ("wrong_envelope", "missing_field")


def test_trade_and_trade_update() -> None:
    trade = parse_trade({"symbol": "AAPL", "payload": {"T": "t", "S": "AAPL", "i": 7, "x": "V", "p": 190.5,
                                                        "s": 100, "t": "2024-01-02T14:30:00Z"}})
    assert (trade.price, trade.size, trade.trade_id) == (190.5, 100, "7")
    update = parse_trade_update({
        "symbol": "AAPL", "channel": "trade_updates", "version": 2, "accountLabel": "paper",
        "payload": {"event": "partial_fill", "timestamp": "2024-01-02T14:30:01Z", "price": "190.55", "qty": "40",
                    "order": {"id": "o-1", "client_order_id": "c-1", "symbol": "AAPL", "side": "buy", "qty": "100",
                              "filled_qty": "40", "type": "limit", "limit_price": "190.60",
                              "submitted_at": "2024-01-02T14:30:00.5Z", "status": "partially_filled"}}})
    assert (update.event, update.order_id, update.side, update.fill_price, update.fill_qty) == (
        "partial_fill", "o-1", "buy", 190.55, 40.0)
    assert update.event_ts_ns - (update.submitted_at_ns or 0) == 500_000_000
    with pytest.raises(InvalidRecord):
        parse_trade_update({"symbol": "AAPL", "payload": {"event": "fill", "order": {"id": "x", "side": "long"}}})
