"""The state consumer's run path under the real runtime and broker: quotes already waiting on the
topic are taken as runs; bad quotes hidden inside those runs still reach the DLQ with their own
reasons, and every state record and the final changelog state are what the per-record offline
driver computes from the good records."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from consumers.state.processor import StateProcessor
from streams.dlq import headers_dict
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, Registry, decode_json
from streams.settings import Settings
from streams.state import canonical_json
from streams.timeutil import parse_ts_ns
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.synthetic_market import synthetic_market
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import changelog_topic, topic

pytestmark = pytest.mark.integration
SYMBOLS = [f"R{i:02d}" for i in range(8)]
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "dlq")


def _bad(value: dict[str, Any], kind: str) -> tuple[bytes, bytes]:
    """(key, value) of a broken copy of a good quote, and nothing else changed."""
    env = json.loads(json.dumps(value))
    env["seq"] = -1  # a value of its own even when only the key is broken
    key = env["symbol"].encode()
    if kind == "crossed_quote":
        env["payload"]["bp"], env["payload"]["ap"] = env["payload"]["ap"] + 0.05, env["payload"]["ap"]
    elif kind == "non_finite_number":
        env["payload"]["bs"] = math.inf
    elif kind == "missing_field":
        del env["payload"]["ap"]
    elif kind == "invalid_key":
        key = b"\xff" + key
    elif kind == "invalid_json":
        return key, json.dumps(env).encode()[:-7]
    return key, json.dumps(env).encode()


def test_runs_with_bad_quotes_inside_match_the_per_record_driver(fast_settings: Settings, unique: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = fast_settings
    for name in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{name.upper()}", f"run-{name}-{unique}")
    # The state topic is not compacted here: the test compares every record, not the latest per key
    # (with event times in the past, the broker rolls and compacts a compacted topic right away).
    create_topics(settings, [(topic(name), 3, False) for name in KEYS])
    feed = list(synthetic_market(SYMBOLS, 9_000, seed=21, step_ms=5.0, trade_every=11))
    kinds = ["crossed_quote", "non_finite_number", "missing_field", "invalid_key", "invalid_json"] * 2
    quotes: list[tuple[bytes, bytes, int]] = []
    trades: list[tuple[bytes, bytes, int]] = []
    bad: dict[bytes, str] = {}
    for n, record in enumerate(feed):
        value = record.value
        ts = parse_ts_ns(value["eventTs"]) // 1_000_000
        target = quotes if record.topic == topic("quotes") else trades
        target.append((value["symbol"].encode(), json.dumps(value).encode(), ts))
        if record.topic == topic("quotes") and n % 800 == 400 and kinds:
            bad_key, broken = _bad(value, kinds[0])
            bad[broken] = kinds.pop(0)
            quotes.append((bad_key, broken, ts))
    assert not kinds
    for name, rows in ((topic("quotes"), quotes), (topic("trades"), trades)):
        produce_all(settings, name, [(k, v) for k, v, _ in rows], timestamps=[t for _, _, t in rows])

    app = f"state-runs-{unique}"
    runtime = TorghutRuntime(StateProcessor(), settings, app)
    stats = runtime.run(max_records=len(quotes) + len(trades), idle_timeout_s=60)
    assert stats.records_in == len(quotes) + len(trades)
    assert stats.run_records >= len(quotes) // 2, stats  # most quotes went through the compiled path
    assert stats.runs_declined >= 1, stats  # runs holding a bad quote were declined, then split

    dead = read_all(settings, topic("dlq"))
    assert sorted(headers_dict(m.headers())["dlq.reason"] for m in dead) == sorted(bad.values())
    refused = set()
    for msg in dead:
        headers = headers_dict(msg.headers())
        assert bad[msg.value()] == headers["dlq.reason"]
        refused.add((headers["dlq.source.topic"], int(headers["dlq.source.partition"]),
                     int(headers["dlq.source.offset"])))

    # The per-record driver over the good records, read back from the broker with their coordinates.
    inputs: list[SourceRecord] = []
    for name in (topic("quotes"), topic("trades")):
        for m in read_all(settings, name):
            if (name, m.partition(), m.offset()) not in refused:
                inputs.append(SourceRecord(name, m.partition(), m.offset(), m.timestamp()[1], m.key().decode(),
                                           decode_json(m.value())))
    offline = run_offline(StateProcessor(), inputs)
    assert not offline.dlq
    decoder = AvroDecoder("microstructure_state_v1", Registry(settings.schema_registry_url))
    published: dict[str, list[dict[str, Any]]] = {}
    for m in read_all(settings, topic("state")):
        published.setdefault(m.key().decode(), []).append(decoder.decode(m.value()))
    expected: dict[str, list[dict[str, Any]]] = {}
    for emit in offline.outputs:
        assert isinstance(emit.value, dict)
        expected.setdefault(emit.key, []).append(dict(emit.value))
    assert set(published) == set(SYMBOLS)
    assert published == expected

    changelog = AvroDecoder("changelog_state_v1", Registry(settings.schema_registry_url))
    final: dict[str, str] = {}
    for m in read_all(settings, changelog_topic(app)):
        entry = changelog.decode(m.value())
        final[m.key().decode()] = canonical_json(json.loads(entry["state_json"]))
    expected_final = {k: canonical_json(v) for s in offline.states.values() for k, v in s.snapshot().items()}
    assert final == expected_final
