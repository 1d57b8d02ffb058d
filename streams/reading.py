"""Reading a whole topic to its current end: the one loop behind state resets, tests and tools.

Why a helper: "read until every partition has reported EOF" has two subtle points (read_committed
stops at the last stable offset; a partition's EOF must be counted once) that every copy of the
loop would otherwise get right or wrong on its own.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

SETTLE_S = 2.0  # an EOF before the end seen at the start is accepted after this long without progress


def reader(kafka_config: dict[str, Any], group_id: str, *, committed: bool = True) -> Consumer:
    """A consumer for reading a topic by assignment: no commits, EOF events, read_committed unless told."""
    return Consumer({**kafka_config, "group.id": group_id, "enable.auto.commit": False,
                     "enable.partition.eof": True,
                     "isolation.level": "read_committed" if committed else "read_uncommitted"})


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    """The topic's partition numbers, or a clear error if it does not exist."""
    metadata = consumer.list_topics(topic, timeout=15).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"topic {topic!r} does not exist"))
    return sorted(metadata.partitions)


def read_to_end(kafka_config: dict[str, Any], topic: str, *, committed: bool = True,
                timeout_s: float = 60.0) -> list[Message]:
    """Every record of ``topic`` from the beginning to its end now (read_committed unless told)."""
    consumer = reader(kafka_config, "microexec-reader", committed=committed)
    try:
        numbers = partitions_of(consumer, topic)
        # The end to reach: the high watermark now. Why not the first EOF alone: under load a
        # read_committed fetch can report EOF short of it (a CI run read a state topic 38 records
        # short of what its advisor had consumed); an EOF at a position before it is only accepted
        # once the position has stayed there for SETTLE_S (a transaction still open at the tail).
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in numbers}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in numbers])
        done: set[int] = set()
        short: dict[int, float] = {}  # partition -> when an EOF came before its end
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(done) < len(numbers):
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"did not reach the end of {topic} within {timeout_s:.0f}s")
            for p, since in list(short.items()):
                if now - since >= SETTLE_S:
                    done.add(p)
                    del short[p]
            msg = consumer.poll(0.1 if short else 0.5)
            if msg is None:
                continue
            err = msg.error()
            partition = msg.partition() or 0
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    low, high = ends[partition]
                    position = consumer.position([TopicPartition(topic, partition)])[0].offset
                    if high <= low or position >= high:
                        done.add(partition)
                    elif partition not in done:
                        short.setdefault(partition, now)
                    continue
                raise KafkaException(err)
            short.pop(partition, None)
            out.append(msg)
        return out
    finally:
        consumer.close()
