"""The Torghut client: AdviceBook rules, the JSON view, and the subscriber's message handling (no broker)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from confluent_kafka import KafkaError

from consumers.advisor.advisor import AdvisorConfig
from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.schemas import parsed_schema
from streams.timeutil import format_ts_ns
from tests.support.synthetic_market import synthetic_market
from torghut_client import (
    AdviceBook,
    AdviceSubscriber,
    BaselineOrder,
    ClientRules,
    Coordinates,
    applied_json,
    decimal_string,
    record_json,
)
from torghut_domain.topics import topic

S = 1_000_000_000
MS = 1_000_000
T0 = 1_767_000_000 * S
MARKET = BaselineOrder(0.10, "market")


def state(t_ns: int = T0, symbol: str = "NVDA", **kw: Any) -> dict[str, Any]:
    value = {"schema_version": "microstructure_state_v1", "symbol": symbol, "event_ts": format_ts_ns(t_ns),
             "spread_bps": 3.8, "depth_top5_usd": 1745000.0, "order_flow_imbalance": 0.24,
             "latency_ms_estimate": 42.0, "fill_hazard": 0.61, "liquidity_regime": "normal"}
    value.update(kw)
    return value


def advice(t_ns: int = T0, symbol: str = "NVDA", **kw: Any) -> dict[str, Any]:
    value = {"schema_version": "execution_advice_v1", "symbol": symbol, "event_ts": format_ts_ns(t_ns),
             "urgency_tier": "normal", "max_participation_rate": 0.05, "preferred_order_type": "limit",
             "quote_offset_bps": 1.0, "adverse_selection_risk": 0.2, "latency_ms": 12.0, "fallback_reason": None,
             "input_topic": topic("state"), "input_partition": 3, "input_offset": 41, "config_hash": "abc",
             "advisor_version": "v", "simulator_version": None, "expected_shortfall_bps_p50": None}
    value.update(kw)
    return value


def book_with(st: dict[str, Any] | None, adv: dict[str, Any] | None, rules: ClientRules | None = None) -> AdviceBook:
    book = AdviceBook(rules)
    if st is not None:
        book.update_state(st["symbol"], st, Coordinates(topic("state"), 3, 100))
    if adv is not None:
        book.update_advice(adv["symbol"], adv, Coordinates(topic("advice"), 3, 7))
    return book


def test_applied_advice_is_the_min_and_carries_provenance() -> None:
    out = book_with(state(), advice()).advice_for("NVDA", T0 + S, MARKET)
    assert out.applied and out.fallback_reason is None
    assert out.participation_rate == 0.05 and out.order_type == "limit"
    assert out.urgency_tier == "normal" and out.quote_offset_bps == 1.0 and not out.risk_rejected
    p = out.provenance
    assert (p["state_topic"], p["state_partition"], p["state_offset"]) == (topic("state"), 3, 100)
    assert (p["advice_topic"], p["advice_partition"], p["advice_offset"]) == (topic("advice"), 3, 7)
    assert (p["advisor_input_offset"], p["config_hash"], p["advisor_version"]) == (41, "abc", "v")
    # the baseline is tighter than the advice: the baseline wins
    assert book_with(state(), advice(max_participation_rate=0.3)).advice_for(
        "NVDA", T0, BaselineOrder(0.02, "market")).participation_rate == 0.02


@pytest.mark.parametrize(("preferred", "baseline_type", "expected"), [
    ("limit", "market", "limit"),  # the conversion
    ("market", "limit", "limit"),  # never loosens a limit
    ("market", "market", "market"),
    ("limit", "stop", "stop"),  # Torghut defines no other conversion
    ("limit", "limit", "limit"),
])
def test_limit_only_conversion(preferred: str, baseline_type: str, expected: str) -> None:
    out = book_with(state(), advice(preferred_order_type=preferred)).advice_for(
        "NVDA", T0, BaselineOrder(0.1, baseline_type))
    assert out.applied and out.order_type == expected


def test_state_staleness_limit_is_15_seconds() -> None:
    book = book_with(state(), advice())
    assert book.advice_for("NVDA", T0 + 15 * S, MARKET).applied
    late = book.advice_for("NVDA", T0 + 15 * S + MS, MARKET)
    assert not late.applied and late.fallback_reason == "stale_state"
    assert (late.participation_rate, late.order_type) == (0.10, "market")
    assert late.provenance["state_offset"] == 100  # fallbacks say what they looked at too


def test_latency_cap_is_250_ms() -> None:
    assert book_with(state(), advice(latency_ms=250.0)).advice_for("NVDA", T0, MARKET).applied
    out = book_with(state(), advice(latency_ms=250.5)).advice_for("NVDA", T0, MARKET)
    assert not out.applied and out.fallback_reason == "advice_timeout"


def test_advice_needs_a_valid_state_for_the_same_symbol() -> None:
    assert book_with(None, advice()).advice_for("NVDA", T0, MARKET).fallback_reason == "missing_state"
    other = book_with(state(symbol="AMD"), advice())
    assert other.advice_for("NVDA", T0, MARKET).fallback_reason == "missing_state"
    bad = book_with(state(fill_hazard="1.7"), advice()).advice_for("NVDA", T0, MARKET)
    assert bad.fallback_reason == "invalid_state:fill_hazard"
    assert book_with(state(), None).advice_for("NVDA", T0, MARKET).fallback_reason == "missing_advice"
    # decimal strings are valid state numbers (Torghut's own format)
    assert book_with(state(spread_bps="3.8"), advice()).advice_for("NVDA", T0, MARKET).applied


def test_advisor_fallbacks_invalid_advice_and_switches() -> None:
    out = book_with(state(), advice(fallback_reason="stale_state")).advice_for("NVDA", T0, MARKET)
    assert out.fallback_reason == "advisor_fallback:stale_state" and not out.applied
    out = book_with(state(), advice(max_participation_rate=float("nan"))).advice_for("NVDA", T0, MARKET)
    assert out.fallback_reason == "invalid_advice:max_participation_rate"
    out = book_with(state(), advice(), ClientRules(enabled=False)).advice_for("NVDA", T0, MARKET)
    assert out.fallback_reason == "advisor_disabled"
    out = book_with(state(), advice(), ClientRules(live_apply_enabled=False)).advice_for("NVDA", T0, MARKET)
    assert out.fallback_reason == "live_apply_disabled"
    rules = ClientRules.from_env({"TRADING_EXECUTION_ADVISOR_ENABLED": "true",
                                  "TRADING_EXECUTION_ADVISOR_LIVE_APPLY_ENABLED": "false",
                                  "TRADING_EXECUTION_ADVISOR_TIMEOUT_MS": "100"})
    assert rules.enabled and not rules.live_apply_enabled and rules.timeout_ms == 100.0


def test_adverse_selection_risk_above_085_is_a_risk_rejection() -> None:
    assert not book_with(state(), advice(adverse_selection_risk=0.85)).advice_for("NVDA", T0, MARKET).risk_rejected
    out = book_with(state(), advice(adverse_selection_risk=0.86)).advice_for("NVDA", T0, MARKET)
    assert out.applied and out.risk_rejected


def test_latest_wins_older_is_ignored_and_tombstones_delete() -> None:
    book = book_with(state(T0 + S), advice(T0 + S, max_participation_rate=0.04))
    book.update_advice("NVDA", advice(T0, max_participation_rate=0.09))  # older: ignored
    assert book.advice_for("NVDA", T0 + S, MARKET).participation_rate == 0.04
    book.update_state("NVDA", None)
    assert book.advice_for("NVDA", T0 + S, MARKET).fallback_reason == "missing_state"


def test_now_may_be_datetime_iso_or_ns() -> None:
    book = book_with(state(), advice())
    dt = datetime.fromtimestamp(T0 / S + 16, tz=UTC)
    assert book.advice_for("NVDA", dt, MARKET).fallback_reason == "stale_state"
    assert book.advice_for("NVDA", "2025-12-29T09:20:10Z", MARKET).applied
    with pytest.raises(ValueError):
        book.advice_for("NVDA", datetime(2025, 12, 29), MARKET)


def test_json_view_uses_decimal_strings_and_z_timestamps() -> None:
    assert decimal_string(0.1) == "0.1"
    assert decimal_string(1e-05) == "0.00001"
    assert decimal_string(1745000.0) == "1745000"
    assert decimal_string(float("nan")) is None
    view = record_json(state(T0, spread_bps=3.8, crumbling_quote_probability=float("inf")))
    assert view["spread_bps"] == "3.8" and view["depth_top5_usd"] == "1745000"
    assert view["event_ts"] == "2025-12-29T09:20:00.000000Z" and view["crumbling_quote_probability"] is None
    assert view["liquidity_regime"] == "normal"
    offset_view = record_json({"event_ts": "2025-12-29T10:20:00.5+01:00"})
    assert offset_view["event_ts"] == "2025-12-29T09:20:00.500000Z"
    applied = applied_json(book_with(state(), advice()).advice_for("NVDA", T0, MARKET))
    text = json.dumps(applied, allow_nan=False)
    assert json.loads(text)["participation_rate"] == "0.05"
    assert applied["provenance"]["state_event_ts"].endswith("Z") and applied["provenance"]["state_offset"] == 100


class FakeError:
    def __init__(self, code: int) -> None:
        self._code = code

    def code(self) -> int:
        return self._code


class FakeMessage:
    def __init__(self, topic_name: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                 error: FakeError | None = None) -> None:
        self._t, self._p, self._o, self._k, self._v, self._e = topic_name, partition, offset, key, value, error

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes | None:
        return self._v

    def error(self) -> FakeError | None:
        return self._e


class FakeConsumer:
    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf


def _bare_avro(stem: str, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed_schema(stem), record)
    return buf.getvalue()


def test_subscriber_forces_read_committed_and_feeds_the_book_from_bare_avro() -> None:
    book = AdviceBook()
    made: list[FakeConsumer] = []

    def factory(conf: dict[str, Any]) -> FakeConsumer:
        made.append(FakeConsumer(conf))
        return made[-1]

    sub = AdviceSubscriber(book, {"bootstrap.servers": "x:9092", "isolation.level": "read_uncommitted"},
                           consumer_factory=factory)
    assert made[0].conf["isolation.level"] == "read_committed" and made[0].conf["enable.auto.commit"] is False
    full_state = {**state(), "crumbling_quote_probability": None, "mechanical_liquidity_withdrawal_probability": None,
                  "depth_source": "top_of_book", "latency_source": "order_ack", "fill_hazard_horizon_s": 60.0,
                  "bid_price": None, "ask_price": None, "mid_price": None, "realized_volatility_bps": None,
                  "emit_reason": "first", "source_topic": None, "source_partition": None, "source_offset": None,
                  "producer_version": ""}
    sub.handle(FakeMessage(topic("state"), 0, 5, b"NVDA", _bare_avro("microstructure_state_v1", full_state)))
    full_advice = {**advice(), "expected_shortfall_bps_p95": None, "shortfall_source": "unavailable",
                   "liquidity_regime": "normal", "friction_regime": "calm_liquid", "turnover_budget": 0.2,
                   "baseline_max_participation_rate": 0.1}
    sub.handle(FakeMessage(topic("advice"), 0, 9, b"NVDA", _bare_avro("execution_advice_v1", full_advice)))
    sub.handle(FakeMessage(topic("advice"), 1, 2, b"AMD", b"\xff\xff\xff"))  # garbage: counted, skipped
    sub.handle(FakeMessage(topic("state"), 0, 6, None, None, FakeError(KafkaError._PARTITION_EOF)))
    out = book.advice_for("NVDA", T0, MARKET)
    assert out.applied and out.provenance["state_offset"] == 5 and out.provenance["advice_offset"] == 9
    assert sub.decode_errors == 1
    sub._assigned = {(topic("state"), 0)}
    assert sub.caught_up()
    sub.handle(FakeMessage(topic("state"), 0, 7, b"NVDA", None))  # tombstone, and no longer at EOF
    assert not sub.caught_up()
    assert book.advice_for("NVDA", T0, MARKET).fallback_reason == "missing_state"


def test_offline_pipeline_into_the_book_then_staleness() -> None:
    symbols = [f"S{i:02d}" for i in range(20)]
    market = list(synthetic_market(symbols, 6000))
    states = run_offline(StateProcessor(), market).outputs
    state_records = [SourceRecord(topic("state"), 0, i, e.timestamp_ms or 0, e.key, e.value)
                     for i, e in enumerate(states)]
    advices = run_offline(AdvisorProcessor(AdvisorConfig()), state_records).outputs
    book = AdviceBook()
    for i, e in enumerate(states):
        book.update_state(e.key, e.value, Coordinates(topic("state"), 0, i))  # type: ignore[arg-type]
    for i, e in enumerate(advices):
        book.update_advice(e.key, e.value, Coordinates(topic("advice"), 0, i))  # type: ignore[arg-type]
    assert book.symbols() == symbols
    newest = max(e.timestamp_ms or 0 for e in states) * MS
    for symbol in symbols:
        st, adv = book.latest(symbol)
        assert st is not None and adv is not None
        last_state_ts = max((e.timestamp_ms or 0) for e in states if e.key == symbol) * MS
        out = book.advice_for(symbol, last_state_ts, BaselineOrder(0.2, "market"))
        assert out.applied, out.fallback_reason
        assert out.participation_rate == pytest.approx(adv["max_participation_rate"])
        assert book.advice_for(symbol, newest + 16 * S, MARKET).fallback_reason == "stale_state"
