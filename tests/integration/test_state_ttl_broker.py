"""State TTL on the real broker: the state consumer evicts an idle symbol with a changelog tombstone, a
restarted consumer restores without it (and with the partition's sweep clock), and everything it
publishes across the restart equals the offline driver over the whole feed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from consumers.state.config import StateConfig
from consumers.state.processor import TTL_KEY, StateProcessor
from producers.torghut_envelopes import quote_envelope
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, Registry, decode_json
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all, read_all
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import changelog_topic, topic

pytestmark = pytest.mark.integration
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "dlq")
S = 1_000_000_000
T0 = 1_767_000_000 * S
TTL = replace(StateConfig(), ttl_s=60.0, sweeps_per_ttl=4)


def _feed() -> list[tuple[str, int, dict[str, Any]]]:
    """IDLE quotes for 10 s and stops; BUSY quotes every 250 ms for 4 minutes (one partition)."""
    rows = [("IDLE", T0 + k * 500_000_000) for k in range(20)] + [("BUSY", T0 + k * 250_000_000) for k in range(960)]
    rows.sort(key=lambda r: r[1])
    return [(sym, t, quote_envelope(sym, t, 20.0 + (n % 3) * 0.01, 300.0, 20.03 + (n % 3) * 0.01, 200.0))
            for n, (sym, t) in enumerate(rows)]


def test_idle_symbol_is_tombstoned_and_a_restart_equals_the_offline_run(fast_settings: Settings, unique: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = fast_settings
    for name in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{name.upper()}", f"ttl-{name}-{unique}")
    create_topics(settings, [(topic(name), 1, False) for name in KEYS])
    feed = _feed()
    half = len(feed) // 2
    app = f"state-ttl-{unique}"
    for part in (feed[:half], feed[half:]):  # two incarnations: the second restores from the changelog
        produce_all(settings, topic("quotes"), [(s.encode(), json.dumps(v).encode()) for s, _, v in part],
                    timestamps=[t // 1_000_000 for _, t, _ in part])
        stats = TorghutRuntime(StateProcessor(TTL), settings, app).run(max_records=len(part), idle_timeout_s=60)
        assert stats.records_in == len(part) and stats.dlq == 0, stats

    inputs = [SourceRecord(topic("quotes"), m.partition(), m.offset(), m.timestamp()[1], m.key().decode(),
                           decode_json(m.value())) for m in read_all(settings, topic("quotes"))]
    offline = run_offline(StateProcessor(TTL), inputs)
    assert offline.states[0].live_keys() == ["BUSY", TTL_KEY]  # IDLE was evicted in the replay too
    decoder = AvroDecoder("microstructure_state_v1", Registry(settings.schema_registry_url))
    published = [(m.key().decode(), decoder.decode(m.value())) for m in read_all(settings, topic("state"))]
    assert published == [(e.key, dict(e.value)) for e in offline.outputs if isinstance(e.value, dict)]

    changelog = read_all(settings, changelog_topic(app))
    last: dict[str, bytes | None] = {}
    for m in changelog:
        last[m.key().decode()] = m.value()
    assert last["IDLE"] is None  # the eviction wrote a tombstone: compaction will drop the key
    assert last["BUSY"] is not None and last[TTL_KEY] is not None
