"""Issue 4 end to end on the real broker: a Torghut-format feed for 20 symbols goes through the state
and advisor consumers; the compacted topics hold the right latest record per symbol; the Torghut
client serves them, falls back once they are stale, and falls back when the advisor is disabled."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, Registry, decode_json
from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from tests.support.invariants import QuoteBook, advice_violations, state_violations
from tests.support.kafka_io import committed_offsets, create_topics, end_offsets, produce_all, read_all
from tests.support.synthetic_market import synthetic_market
from torghut_client import AdviceBook, AdviceSubscriber, BaselineOrder, applied_json
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
SYMBOLS = [f"SYM{i:02d}" for i in range(20)]
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "shortfall")


@pytest.fixture
def pipeline_topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"{key}-{unique}")
    create_topics(fast_settings, [(topic(k), 3, k in ("state", "advice")) for k in KEYS])
    yield fast_settings


def _run_until_caught_up(runtimes: list[tuple[TorghutRuntime, str, list[str]]], settings: Settings,
                         timeout: float = 120) -> None:
    """Run each runtime in a thread until its group has committed the end of every input."""
    threads = [threading.Thread(target=rt.run) for rt, _, _ in runtimes]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        for _, group, inputs in runtimes:
            for name in inputs:
                while time.monotonic() < deadline:
                    ends = end_offsets(settings, name)
                    if committed_offsets(settings, group, name) == ends or not any(ends.values()):
                        break
                    time.sleep(0.3)
    finally:
        for rt, _, _ in runtimes:
            rt.stop()
        for thread in threads:
            thread.join(60)
    for _, group, inputs in runtimes:
        for name in inputs:
            ends = end_offsets(settings, name)
            if any(ends.values()):
                assert committed_offsets(settings, group, name) == ends, f"{group} did not finish {name}"


def _produce_feed(settings: Settings, feed: list[SourceRecord]) -> None:
    """Key by symbol and let the partitioner place records, as Torghut's producers do; the Kafka
    timestamp is the event time, which the runtime's cross-topic merge orders by."""
    for name in sorted({r.topic for r in feed}):
        chosen = [r for r in feed if r.topic == name]
        produce_all(settings, name, [(r.value["symbol"], json.dumps(r.value).encode()) for r in chosen],
                    timestamps=[parse_ts_ns(r.value["eventTs"]) // 1_000_000 for r in chosen])


def _latest_by_key(settings: Settings, name: str, stem: str, registry: Registry) -> dict[str, dict[str, Any]]:
    decoder = AvroDecoder(stem, registry)
    latest: dict[str, dict[str, Any]] = {}
    for msg in read_all(settings, name):
        latest[msg.key().decode()] = decoder.decode(msg.value())
    return latest


def test_feed_to_state_to_advice_to_torghut_client(pipeline_topics: Settings, unique: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = pipeline_topics
    monkeypatch.setenv("EXECUTION_ADVISOR_ENABLED", "true")
    feed = list(synthetic_market(SYMBOLS, 6000, seed=3, order_every=40))
    _produce_feed(settings, feed)

    state_app, advisor_app = f"state-{unique}", f"advisor-{unique}"
    state_rt = TorghutRuntime(StateProcessor(), settings, state_app)
    advisor_rt = TorghutRuntime(AdvisorProcessor(), settings, advisor_app)
    _run_until_caught_up([(state_rt, state_app, [topic("quotes"), topic("trades"), topic("trade_updates")])],
                         settings)
    _run_until_caught_up([(advisor_rt, advisor_app, [topic("state")])], settings)
    assert state_rt.stats.dlq == 0 and advisor_rt.stats.dlq == 0

    registry = Registry(settings.schema_registry_url)
    states = _latest_by_key(settings, topic("state"), "microstructure_state_v1", registry)
    advice = _latest_by_key(settings, topic("advice"), "execution_advice_v1", registry)
    assert set(states) == set(SYMBOLS) and set(advice) == set(SYMBOLS)

    # The latest state per symbol is what the same processor computes offline over the same inputs.
    inputs: list[SourceRecord] = []
    for name in (topic("quotes"), topic("trades"), topic("trade_updates")):
        inputs += [SourceRecord(name, m.partition(), m.offset(), m.timestamp()[1], m.key().decode(),
                                decode_json(m.value())) for m in read_all(settings, name)]
    offline = run_offline(StateProcessor(), inputs)
    expected_state = {e.key: e.value for e in offline.outputs}
    assert {s: states[s] for s in SYMBOLS} == {s: expected_state[s] for s in SYMBOLS}

    # Every published record is consistent with its own event_ts (tests/support/invariants.py).
    state_dec = AvroDecoder("microstructure_state_v1", registry)
    advice_dec = AvroDecoder("execution_advice_v1", registry)
    all_states = {(m.partition(), m.offset()): state_dec.decode(m.value()) for m in read_all(settings, topic("state"))}
    all_advice = [advice_dec.decode(m.value()) for m in read_all(settings, topic("advice"))]
    quotes = [r.value for r in inputs if r.topic == topic("quotes")]
    assert state_violations(all_states.values(), QuoteBook(quotes)) == []
    assert advice_violations(all_advice, all_states, topic("state")) == []

    for symbol in SYMBOLS:
        assert advice[symbol]["event_ts"] == states[symbol]["event_ts"]
        assert advice[symbol]["max_participation_rate"] <= advice[symbol]["baseline_max_participation_rate"]
        assert advice[symbol]["config_hash"] and advice[symbol]["input_topic"] == topic("state")

    book = AdviceBook()
    client = AdviceSubscriber(book, settings.kafka_common(), settings.schema_registry_url)
    client.assign()
    assert client.catch_up(30)
    client.close()
    baseline = BaselineOrder(participation_rate=0.2, order_type="market")
    applied = 0
    for symbol in SYMBOLS:
        st, adv = book.latest(symbol)
        assert st == states[symbol] and adv == advice[symbol]
        fresh = parse_ts_ns(states[symbol]["event_ts"]) + 1_000_000_000
        answer = book.advice_for(symbol, fresh, baseline)
        if advice[symbol]["fallback_reason"] is None and advice[symbol]["latency_ms"] <= 250:
            assert answer.applied, answer
            assert answer.participation_rate == min(advice[symbol]["max_participation_rate"], 0.2)
            assert answer.provenance, "applied advice must carry provenance"
            view = applied_json(answer)
            assert isinstance(view["participation_rate"], str)
            applied += 1
        stale = book.advice_for(symbol, parse_ts_ns(states[symbol]["event_ts"]) + 16_000_000_000, baseline)
        assert not stale.applied and stale.fallback_reason == "stale_state"
        assert (stale.participation_rate, stale.order_type) == (0.2, "market")
    assert applied >= len(SYMBOLS) // 2, "most symbols should get model advice on a calm synthetic feed"


def test_disabled_advisor_emits_nothing_and_client_falls_back(pipeline_topics: Settings, unique: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings = pipeline_topics
    feed = list(synthetic_market(SYMBOLS, 2000, seed=4))
    _produce_feed(settings, feed)
    state_app, advisor_app = f"state-{unique}", f"advisor-off-{unique}"
    _run_until_caught_up([(TorghutRuntime(StateProcessor(), settings, state_app), state_app,
                           [topic("quotes"), topic("trades")])], settings)
    monkeypatch.setenv("EXECUTION_ADVISOR_ENABLED", "false")
    advisor = TorghutRuntime(AdvisorProcessor(), settings, advisor_app)
    _run_until_caught_up([(advisor, advisor_app, [topic("state")])], settings)
    assert advisor.stats.records_in > 0 and advisor.stats.records_out == 0
    assert read_all(settings, topic("advice")) == []

    book = AdviceBook()
    client = AdviceSubscriber(book, settings.kafka_common(), settings.schema_registry_url)
    client.assign()
    assert client.catch_up(30)
    client.close()
    for symbol in SYMBOLS:
        st, _ = book.latest(symbol)
        assert st is not None
        answer = book.advice_for(symbol, parse_ts_ns(st["event_ts"]), BaselineOrder(0.1, "market"))
        assert not answer.applied and answer.fallback_reason == "missing_advice"
