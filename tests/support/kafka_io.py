"""Plain-client helpers for integration tests: produce inputs, read outputs read_committed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.admin import ensure_topics
from streams.reading import read_to_end
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
    return read_to_end(settings.kafka_common(), topic, committed=committed, timeout_s=timeout)


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer({**settings.kafka_common(), "group.id": "test-offsets"})
    metadata = consumer.list_topics(topic, timeout=15).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in metadata.partitions}
    consumer.close()
    return ends


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets; a coordinator that is moving or loading (NOT_COORDINATOR, seen
    in CI right after the broker started) is asked again, as a client would, for up to 60 s."""
    consumer = Consumer({**settings.kafka_common(), "group.id": group})
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics[topic]
        parts = [TopicPartition(topic, p) for p in metadata.partitions]
        deadline = time.monotonic() + 60
        while True:
            try:
                return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=90)}
            except KafkaException as exc:
                if not exc.args[0].retriable() and exc.args[0].code() not in (
                        KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def run_until_committed(settings: Settings, runtime: Any, app: str, topics: Iterable[str],
                        timeout_s: float = 60.0) -> None:
    """Run ``runtime`` on a thread until group ``app`` has committed every partition of ``topics`` to
    its end (everything produced so far is processed and its outputs committed), then stop it."""
    thread = threading.Thread(target=runtime.run)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        for name in topics:
            ends = {p: end for p, end in end_offsets(settings, name).items() if end > 0}
            while any(committed_offsets(settings, app, name)[p] != end for p, end in ends.items()):
                assert time.monotonic() < deadline, f"{app} did not finish {name}"
                time.sleep(0.3)
    finally:
        runtime.stop()
        thread.join(30)
    assert not thread.is_alive(), f"{app} did not stop"
