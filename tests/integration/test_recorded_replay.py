"""Recorded market data (the AMZN LOBSTER day, a Binance BTCUSDT slice with L2 books) through the
state consumer on the real broker: every state record equals the per-record offline driver's over
the same three topics. A backlog this size takes the runtime longer than the merge's idle limit to
work through, which once let the merge release a group before its other topics' records (already
fetched) were merged: the same inputs then gave different records from run to run."""

from __future__ import annotations

import collections
from typing import Any

import pytest

from consumers.state.processor import StateProcessor
from producers.binance import binance_records
from producers.lobster import lobster_records
from producers.replay import replay
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, Registry, decode_json
from streams.settings import Settings
from tests.support.data import DATA_DIR
from tests.support.kafka_io import create_topics, read_all
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "dlq")


def test_recorded_feed_through_the_runtime_equals_the_offline_driver(kafka_settings: Settings, unique: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = kafka_settings
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"rec-{key}-{unique}")
    create_topics(settings, [(topic(key), 6, False) for key in KEYS])  # state not compacted: every record counts
    amzn = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
    btc = sorted((DATA_DIR / "binance").glob("*.gz"))
    sent = replay(settings, lobster_records(amzn, limit=60_000), show_progress=False)
    sent += replay(settings, binance_records(btc, limit=60_000), show_progress=False)

    runtime = TorghutRuntime(StateProcessor(), settings, f"rec-{unique}")
    stats = runtime.run(max_records=sent, idle_timeout_s=60)
    assert stats.records_in == sent and stats.dlq == 0
    assert stats.run_records > sent // 2  # the compiled path did most of it

    registry = Registry(settings.schema_registry_url)
    book = AvroDecoder("l2_book_v1", registry)
    inputs: list[SourceRecord] = []
    for key in ("quotes", "trades", "book_l2"):
        name = topic(key)
        for m in read_all(settings, name):
            value = book.decode(m.value()) if key == "book_l2" else decode_json(m.value())
            inputs.append(SourceRecord(name, m.partition(), m.offset(), m.timestamp()[1], m.key().decode(), value))
    offline = run_offline(StateProcessor(), inputs)
    assert not offline.dlq

    state = AvroDecoder("microstructure_state_v1", registry)
    published: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for m in read_all(settings, topic("state")):
        published[m.key().decode()].append(state.decode(m.value()))
    expected: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for emit in offline.outputs:
        assert isinstance(emit.value, dict)
        expected[emit.key].append(dict(emit.value))
    assert set(published) == {"AMZN", "BTCUSDT"}
    for symbol in ("AMZN", "BTCUSDT"):
        assert len(published[symbol]) == len(expected[symbol]), symbol
        assert published[symbol] == expected[symbol], symbol
