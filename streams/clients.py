"""The runtime's three Kafka clients and why each setting is what it is.

Why apart from the loop: these settings are the exactly-once contract with the broker (a
transactional producer, a read_committed consumer with static membership, a restore consumer that
reads to the end and stops); a reader checking that contract finds it in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, Producer

from streams.settings import Settings

HEADER_ROOM = 65_536  # bytes kept for a record's key and headers (a DLQ record's are the largest)


def producer_max_bytes(settings: Settings) -> int:
    """The largest record the runtime's producer takes: librdkafka's default, or the record bound
    with room for a DLQ record's headers, whichever is larger."""
    return max(1_000_000, settings.max_record_bytes + HEADER_ROOM)


def transactional_producer(settings: Settings, txn_id: str, overrides: Mapping[str, Any] | None) -> Producer:
    """One transactional producer per instance: ``init_transactions`` with the same id fences and
    aborts whatever a killed incarnation left open."""
    return Producer({
        **settings.kafka_common(),
        "transactional.id": txn_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,  # commit flushes anyway; a long linger only delays the records of a quiet stream
        # Outputs over MICROEXEC_MAX_RECORD_BYTES are dead-lettered before produce (streams/output.py);
        # the client's own limit must not refuse one under it (its default is 1,000,000).
        "message.max.bytes": producer_max_bytes(settings),
        "compression.type": "lz4",
        "partitioner": "murmur2_random",  # same partitions as Java clients for the same key
        "transaction.timeout.ms": 60_000,
        **(overrides or {}),
    })


def group_consumer(settings: Settings, app_id: str, txn_id: str, *, partition_eof: bool,
                   stats_cb: Callable[[str], None], overrides: Mapping[str, Any] | None) -> Consumer:
    """The input consumer: group ``app_id`` with static membership (a restarted instance takes its
    partitions back without a rebalance), read_committed, offsets committed only by transactions."""
    return Consumer({
        **settings.kafka_common(),
        "group.id": app_id,
        "group.instance.id": txn_id,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "range",  # co-partitioned inputs land together
        "session.timeout.ms": settings.session_timeout_ms,
        # A fetch returns as soon as data is there; this bounds the wait when it is not, which is
        # what a read_committed consumer sees between an upstream's transaction commits.
        "fetch.wait.max.ms": 20,
        "statistics.interval.ms": 5_000,
        "enable.partition.eof": partition_eof,  # with a merge: an ended input must not hold back the merge
        "stats_cb": stats_cb,
        **(overrides or {}),
    })


def restore_consumer(settings: Settings, app_id: str) -> Consumer:
    """Reads a changelog partition to its end (streams/restore.py); assigned, never subscribed."""
    return Consumer({
        **settings.kafka_common(),
        "group.id": f"{app_id}.restore",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 10,  # restore is a bounded read to the end: don't linger at EOF
    })
