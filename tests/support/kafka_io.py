"""Plain-client helpers for integration tests: produce inputs, read outputs read_committed."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.admin import ensure_topics
from streams.settings import Settings


def create_topics(settings: Settings, topics: Iterable[tuple[str, int, bool]],
                  extra_config: dict[str, str] | None = None) -> None:
    """Test topics keep records forever: the feeds carry fixed event times that are older than the
    broker's default seven-day retention, which would otherwise delete them mid-test."""
    ensure_topics(AdminClient(settings.kafka_common()), topics, 1, {"retention.ms": "-1", **(extra_config or {})})


def produce_all(settings: Settings, topic: str, records: Iterable[tuple[bytes | str | None, bytes | None]],
                headers: list[tuple[str, bytes]] | None = None, timestamps: Iterable[int] | None = None) -> int:
    producer = Producer({**settings.kafka_common(), "enable.idempotence": True, "linger.ms": 5,
                         "partitioner": "murmur2_random", "message.max.bytes": 2_000_000})
    ts_iter = iter(timestamps) if timestamps is not None else None
    count = 0
    for key, value in records:
        kwargs: dict[str, Any] = {}
        if ts_iter is not None:
            kwargs["timestamp"] = next(ts_iter)
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                producer.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    assert producer.flush(30) == 0, "records left unsent"
    return count


def read_all(settings: Settings, topic: str, *, committed: bool = True, timeout: float = 30.0) -> list[Any]:
    """Every record of ``topic`` from the beginning to the current end, as confluent Message objects."""
    consumer = Consumer({**settings.kafka_common(), "group.id": "test-reader", "enable.auto.commit": False,
                         "enable.partition.eof": True,
                         "isolation.level": "read_committed" if committed else "read_uncommitted"})
    metadata = consumer.list_topics(topic, timeout=15).topics[topic]
    parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(metadata.partitions)]
    consumer.assign(parts)
    done: set[int] = set()
    out = []

    deadline = time.monotonic() + timeout
    while len(done) < len(parts) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                done.add(msg.partition() or 0)
                continue
            raise RuntimeError(err)
        out.append(msg)
    consumer.close()
    if len(done) < len(parts):
        raise TimeoutError(f"did not reach the end of {topic} in {timeout}s")
    return out


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer({**settings.kafka_common(), "group.id": "test-offsets"})
    metadata = consumer.list_topics(topic, timeout=15).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in metadata.partitions}
    consumer.close()
    return ends


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    consumer = Consumer({**settings.kafka_common(), "group.id": group})
    metadata = consumer.list_topics(topic, timeout=15).topics[topic]
    parts = [TopicPartition(topic, p) for p in metadata.partitions]
    out = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=90)}
    consumer.close()
    return out
