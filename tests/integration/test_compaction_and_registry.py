"""Compaction is observable, and the registry (BACKWARD) refuses an incompatible schema change."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streams.schemas import schema_text
from streams.serde import REGISTRY_TIMEOUT_S
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all, read_all

pytestmark = pytest.mark.integration


def test_compacted_topic_keeps_latest_value_per_key(kafka_settings: Settings, unique: str) -> None:
    topic = f"compacted-{unique}"
    create_topics(kafka_settings, [(topic, 1, True)],
                  {"segment.ms": "100", "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0"})
    keys = [f"SYM{i}" for i in range(20)]
    writes = [(k, f"{k}:{v}".encode()) for v in range(50) for k in keys]
    produce_all(kafka_settings, topic, writes)
    assert len(read_all(kafka_settings, topic)) == len(writes)

    deadline = time.monotonic() + 90
    latest: dict[str, list[bytes]] = {}
    while time.monotonic() < deadline:
        time.sleep(1.5)
        # A write after segment.ms rolls the segment; only closed segments are cleaned.
        produce_all(kafka_settings, topic, [("roll", b"roll")])
        latest = {}
        for msg in read_all(kafka_settings, topic):
            latest.setdefault(msg.key().decode(), []).append(msg.value())
        if all(len(latest.get(k, [])) == 1 for k in keys):
            break
    assert {k: latest[k] for k in keys} == {k: [f"{k}:49".encode()] for k in keys}


def test_registry_refuses_backward_incompatible_change(kafka_settings: Settings, unique: str) -> None:
    client = SchemaRegistryClient({"url": kafka_settings.schema_registry_url, "timeout": REGISTRY_TIMEOUT_S})
    subject = f"compat-{unique}-value"
    v1 = json.loads(schema_text("microstructure_state_v1"))
    first_id = client.register_schema(subject, Schema(json.dumps(v1), "AVRO"))

    compatible = json.loads(json.dumps(v1))
    compatible["fields"].append({"name": "queue_depth", "type": ["null", "double"], "default": None})
    assert client.register_schema(subject, Schema(json.dumps(compatible), "AVRO")) != first_id

    incompatible = json.loads(json.dumps(compatible))
    incompatible["fields"].append({"name": "venue_id", "type": "string"})  # new field without a default
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(incompatible), "AVRO"))
    assert refused.value.http_status_code == 409
    assert len(client.get_versions(subject)) == 2
