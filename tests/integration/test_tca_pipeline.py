"""The TCA consumer on the real broker and registry: Torghut-format quotes and trade updates, Avro
shortfall distributions (keyed by order id, placed on their symbol's partition) and Avro state records
go through TorghutRuntime; the divergence records decode against the registry, match Torghut's
arithmetic computed by hand, equal the offline driver's, and a second run with a fresh group over
the same inputs reproduces them byte for byte."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from consumers.tca.config import TcaConfig
from consumers.tca.processor import TcaProcessor
from streams.admin import rewind_group
from streams.offline import run_offline
from streams.partitioning import partition_for
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, AvroEncoder, Registry, decode_json
from streams.settings import Settings
from streams.timeutil import format_ts_ns, parse_ts_ns
from tests.support.invariants import tca_violations
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.tca_feed import MS, NS, OrderSpec, order_updates, quote, shortfall, state_record
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
KEYS = ("quotes", "trade_updates", "shortfall", "state", "tca_divergence", "dlq")
PARTITIONS = 3
T0 = 1_795_200_000 * NS
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN")
WAIT_S = 30.0


@pytest.fixture
def tca_topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"tca-{key}-{unique}")
    create_topics(fast_settings, [(topic(k), PARTITIONS, k == "state") for k in KEYS])
    yield fast_settings


def _mid_quotes(symbol: str, base: float) -> list[dict[str, Any]]:
    """A quote every 250 ms for 100 s; the mid steps by a cent every 4 quotes."""
    out = []
    for k in range(400):
        mid = round(base + 0.01 * ((k // 4) % 9), 4)
        out.append(quote(symbol, T0 + k * 250 * MS, round(mid - 0.01, 4), round(mid + 0.01, 4)))
    return out


def _orders(symbol: str, base: float) -> list[tuple[OrderSpec, tuple[float, float] | None]]:
    """Per symbol: a buy filled in three parts, a sell partly filled then canceled (both with a
    distribution), and a buy whose distribution never comes (expected_missing after the wait)."""
    sub = T0 + 10 * NS + 120 * MS
    buy = OrderSpec(f"{symbol}-b", symbol, "buy", 300.0, sub,
                    [(sub + 1 * NS, base + 0.02, 100.0), (sub + 2 * NS, base + 0.03, 150.0),
                     (sub + 3500 * MS, base + 0.05, 50.0)], limit_price=base + 0.10)
    sub2 = T0 + 30 * NS + 40 * MS
    sell = OrderSpec(f"{symbol}-s", symbol, "sell", 200.0, sub2,
                     [(sub2 + 500 * MS, base - 0.01, 80.0), (sub2 + 2 * NS, base - 0.03, 40.0)],
                     completion="canceled", completion_ns=sub2 + 9 * NS, limit_price=base - 0.05, label="baseline")
    sub3 = T0 + 50 * NS + 10 * MS
    orphan = OrderSpec(f"{symbol}-m", symbol, "buy", 50.0, sub3, [(sub3 + NS, base + 0.04, 50.0)], order_type="market")
    return [(buy, (1.5, 6.0)), (sell, (-0.5, 4.0)), (orphan, None)]


def _expected(spec: OrderSpec, quotes: list[dict[str, Any]], dist: tuple[float, float] | None) -> dict[str, Any]:
    """TORGHUT.md by hand: arrival = mid of the latest quote at or before submitted_at."""
    before = [q for q in quotes if q["eventTs"] <= format_ts_ns(spec.submitted_ns)]
    arrival = (before[-1]["payload"]["bp"] + before[-1]["payload"]["ap"]) / 2
    qty = sum(q for _, _, q in spec.fills)
    avg = sum(p * q for _, p, q in spec.fills) / qty
    direction = 1 if spec.side == "buy" else -1
    slippage = direction * (avg - arrival) / arrival * 1e4
    return {"arrival_price": arrival, "avg_fill_price": avg, "filled_qty": qty, "slippage_bps": slippage,
            "shortfall_notional": direction * (avg - arrival) * qty, "realized_shortfall_bps": slippage,
            "divergence_bps": None if dist is None else slippage - dist[0], "fill_ratio": qty / spec.qty,
            "expected_missing": dist is None, "strategy": spec.label}


def _produce_avro(settings: Settings, name: str, stem: str, rows: list[tuple[str, str, dict[str, Any], int]],
                  registry: Registry) -> None:
    """(key, placement key, value, timestamp ms): Confluent-framed Avro placed on the partition of
    the placement key, as ``Emit.partition_key`` places it."""
    encoder = AvroEncoder(stem, name, registry)
    producer = Producer({**settings.kafka_common(), "enable.idempotence": True})
    for key, placement, value, ts_ms in rows:
        producer.produce(name, encoder.encode(value), key, partition=partition_for(placement, PARTITIONS),
                         timestamp=ts_ms)
    assert producer.flush(30) == 0


def _run(settings: Settings, app: str, total: int) -> TorghutRuntime:
    runtime = TorghutRuntime(TcaProcessor(TcaConfig(wait_s=WAIT_S)), settings, app)
    stats = runtime.run(max_records=total, idle_timeout_s=30)
    assert stats.records_in == total and stats.dlq == 0, stats
    return runtime


def test_tca_divergence_on_the_broker_matches_hand_arithmetic_and_replays_byte_identical(
        tca_topics: Settings, unique: str) -> None:
    settings = tca_topics
    registry = Registry(settings.schema_registry_url)
    quotes: dict[str, list[dict[str, Any]]] = {}
    updates: list[dict[str, Any]] = []
    shortfalls: list[tuple[str, str, dict[str, Any], int]] = []
    expected: dict[str, dict[str, Any]] = {}
    for i, symbol in enumerate(SYMBOLS):
        base = 50.0 + 25.0 * i
        quotes[symbol] = _mid_quotes(symbol, base)
        for spec, dist in _orders(symbol, base):
            updates += order_updates(spec)
            expected[spec.order_id] = _expected(spec, quotes[symbol], dist)
            if dist is not None:
                value = shortfall(spec.order_id, symbol, spec.side, spec.qty, spec.submitted_ns, dist[0], dist[1])
                shortfalls.append((spec.order_id, symbol, value, spec.submitted_ns // MS + 40))
        reference = shortfall(f"reference:{symbol}:normal", symbol, "buy", 100.0, T0, 9.0, 19.0, reference=True,
                              regime="normal")
        shortfalls.append((reference["order_id"], symbol, reference, T0 // MS))
    states = [(s, s, state_record(s, T0 + 5 * NS, "stressed" if s == "NVDA" else "normal"), (T0 + 5 * NS) // MS)
              for s in SYMBOLS]
    all_quotes = sorted((q for qs in quotes.values() for q in qs), key=lambda q: q["eventTs"])
    updates.sort(key=lambda u: u["payload"]["timestamp"])
    produce_all(settings, topic("quotes"), [(q["symbol"], json.dumps(q).encode()) for q in all_quotes],
                timestamps=[_ms(q["eventTs"]) for q in all_quotes])
    produce_all(settings, topic("trade_updates"), [(u["symbol"], json.dumps(u).encode()) for u in updates],
                timestamps=[_ms(u["payload"]["timestamp"]) for u in updates])
    _produce_avro(settings, topic("shortfall"), "shortfall_distribution_v1", shortfalls, registry)
    _produce_avro(settings, topic("state"), "microstructure_state_v1", states, registry)
    total = len(all_quotes) + len(updates) + len(shortfalls) + len(states)

    _run(settings, f"tca-{unique}", total)
    decoder = AvroDecoder("tca_divergence_v1", registry)
    first = read_all(settings, topic("tca_divergence"))
    out = {}
    for msg in first:
        value = decoder.decode(msg.value())
        assert msg.key().decode() == value["symbol"]
        assert msg.partition() == partition_for(value["symbol"], PARTITIONS)
        out[value["order_id"]] = value
    assert set(out) == set(expected) and len(first) == len(expected)
    assert tca_violations(out.values(), all_quotes) == []  # consistent with its own event time
    for order_id, want in expected.items():
        got = out[order_id]
        for name, number in want.items():
            if isinstance(number, float):
                assert got[name] == pytest.approx(number, rel=1e-9, abs=1e-12), (order_id, name)
            else:
                assert got[name] == number, (order_id, name)
        assert got["arrival_source"] == "quote_mid" and got["fill_source"] == "fills"
        assert got["liquidity_regime"] == ("stressed" if got["symbol"] == "NVDA" else "normal")
    assert read_all(settings, topic("dlq")) == []

    # The offline driver over the same records (as the broker holds them) gives the same values.
    inputs = []
    for key in ("quotes", "trade_updates"):
        inputs += [SourceRecord(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key().decode(),
                                decode_json(m.value())) for m in read_all(settings, topic(key))]
    for key, stem in (("shortfall", "shortfall_distribution_v1"), ("state", "microstructure_state_v1")):
        avro = AvroDecoder(stem, registry)
        inputs += [SourceRecord(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key().decode(),
                                avro.decode(m.value())) for m in read_all(settings, topic(key))]
    offline = run_offline(TcaProcessor(TcaConfig(wait_s=WAIT_S)), inputs)
    assert offline.dlq == []
    offline_values = [dict(e.value) for e in offline.outputs if isinstance(e.value, dict)]
    assert len(offline_values) == len(offline.outputs)
    assert {v["order_id"]: v for v in offline_values} == out

    # A second run, fresh group and fresh state, over the same inputs; then the first group rewound to
    # the beginning of every input with its state reset: the same bytes each time, partition by partition.
    _run(settings, f"tca-again-{unique}", total)
    for i, key in enumerate(("quotes", "trade_updates", "shortfall", "state")):
        rewind_group(settings, f"tca-{unique}", topic(key), "earliest", wait_s=30, reset_state=i == 3)
    _run(settings, f"tca-{unique}", total)
    runs = read_all(settings, topic("tca_divergence"))
    assert len(runs) == 3 * len(first)
    used = {partition_for(s, PARTITIONS) for s in SYMBOLS}
    assert len(used) > 1  # the symbols spread over partitions: per-partition order is what is compared
    for partition in used:
        records = [(m.value(), m.timestamp()[1], m.key()) for m in runs if m.partition() == partition]
        n = len(records) // 3
        assert n > 0 and records[:n] == records[n:2 * n] == records[2 * n:]


def _ms(iso: str) -> int:
    return parse_ts_ns(iso) // MS
