"""Topic administration and consumer-group offset rewinds.

Why rewind refuses a live group: moving offsets under running members is silently undone by their
next commit; Kafka itself rejects it, but with an error that does not say what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from streams.reading import read_to_end
from streams.settings import Settings
from streams.timeutil import TimestampError, parse_iso_ms
from streams.topics import TopicSpec, changelog_topic

log = logging.getLogger("microexec.admin")


class AdminError(RuntimeError):
    pass


class TopologyError(RuntimeError):
    """The topics don't fit the processor (missing, or inputs not co-partitioned): fix the deployment."""


def topic_config(compacted: bool, retention: dict[str, str] | None = None) -> dict[str, str]:
    """A created topic's config; ``retention`` (``retention.ms``/``retention.bytes``) applies to
    delete-policy topics only (a compacted topic keeps the latest value per key by design)."""
    conf = {"compression.type": "lz4"}
    if compacted:
        # Small segments and a low dirty ratio so the latest-per-key view converges quickly.
        conf.update({"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                     "segment.ms": "600000", "delete.retention.ms": "86400000"})
    elif retention:
        conf.update(retention)
    return conf


def retention_config(settings: Settings) -> dict[str, str]:
    """Retention of the delete-policy topics we create (MICROEXEC_TOPIC_RETENTION_MS / _BYTES).

    Why not the broker's default of 7 days: the feeds stamp records with their event time, and Kafka's
    time retention reads those stamps, so history replayed today (the 2012 LOBSTER day, last week's
    Binance recording) is deleted at the broker's next retention check, within 5 minutes; measured on
    the local stack, every record of a replayed 2024 dump was gone 10 minutes later (low watermark =
    high watermark on every partition), and a rewind found nothing to read."""
    return {"retention.ms": str(settings.topic_retention_ms), "retention.bytes": str(settings.topic_retention_bytes)}


def ensure_topics(admin: AdminClient, topics: Iterable[tuple[str, int, bool]], replication: int,
                  extra_config: dict[str, str] | None = None,
                  retention: dict[str, str] | None = None) -> list[str]:
    """Create missing topics (name, partitions, compacted); existing ones are left as they are."""
    wanted = list(topics)
    existing = set(admin.list_topics(timeout=15).topics)
    new = [NewTopic(name, num_partitions=parts, replication_factor=replication,
                    config={**topic_config(compacted, retention), **(extra_config or {})})
           for name, parts, compacted in wanted if name not in existing]
    created: list[str] = []
    if not new:
        return created
    for name, future in admin.create_topics(new, request_timeout=30).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another creator won the race
                raise AdminError(f"could not create topic {name}: {exc.args[0].str()}") from exc
    return created


def create_catalog_topics(settings: Settings, catalog: Iterable[TopicSpec]) -> list[str]:
    """Create the missing topics of a catalog (the domain package's)."""
    admin = AdminClient(settings.kafka_common())
    return ensure_topics(admin, [(spec.name, settings.partitions, spec.compacted) for spec in catalog],
                         settings.replication_factor, retention=retention_config(settings))


@dataclass(frozen=True)
class RewindPlan:
    group: str
    topic: str
    target: str
    offsets: list[tuple[int, int]]  # (partition, offset)


def _offset_spec(target: str) -> OffsetSpec:
    if target == "earliest":
        return OffsetSpec.earliest()
    if target == "latest":
        return OffsetSpec.latest()
    try:
        return OffsetSpec.for_timestamp(parse_iso_ms(target))
    except TimestampError as exc:
        raise AdminError(f"--to {target!r} is not 'earliest', 'latest' or an ISO 8601 time with zone "
                         "(e.g. 2026-11-26T14:30:00Z)") from exc


def _members(admin: AdminClient, group: str) -> list[str]:
    description = admin.describe_consumer_groups([group], request_timeout=15)[group].result()
    return [m.group_instance_id or m.member_id for m in description.members]


def wait_until_empty(admin: AdminClient, group: str, wait_s: float) -> None:
    """Static members (our runtime uses them) stay in the group for session.timeout.ms after a clean
    stop; waiting here is what an operator would otherwise do by hand."""
    deadline = time.monotonic() + wait_s
    members = _members(admin, group)
    while members and time.monotonic() < deadline:
        time.sleep(0.5)
        members = _members(admin, group)
    if members:
        raise AdminError(f"group {group!r} has {len(members)} active member(s) ({', '.join(members)}); stop its "
                         "consumers first (a stopped static member leaves after the session timeout: "
                         "use --wait SECONDS), then rewind")


def reset_changelog(settings: Settings, app_id: str) -> int:
    """Tombstone every key of ``<app>.changelog`` so the next run starts from empty state.

    Why tombstones and not DeleteRecords: the changelog is compacted, and Kafka refuses record
    deletion on compacted topics; a tombstone per key is what compaction itself understands.
    """
    name = changelog_topic(app_id)
    try:
        records = read_to_end(settings.kafka_common(), name)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return 0
        raise
    live = {(msg.partition() or 0, msg.key() or b""): msg.value() is not None for msg in records}
    producer = Producer({**settings.kafka_common(), "enable.idempotence": True})
    count = 0
    for (partition, key), alive in live.items():
        if alive:
            producer.produce(name, None, key, partition=partition)
            count += 1
    if producer.flush(30):
        raise AdminError(f"could not write all tombstones to {name}")
    return count


def rewind_group(settings: Settings, group: str, topic_name: str, target: str, *, wait_s: float = 0.0,
                 reset_state: bool = False) -> RewindPlan:
    """Move a stopped group's committed offsets on ``topic_name`` to ``target``; with ``reset_state``
    also empty the group's changelog (the runtime's app id is its group id)."""
    admin = AdminClient(settings.kafka_common())
    spec = _offset_spec(target)
    wait_until_empty(admin, group, wait_s)
    metadata = admin.list_topics(topic_name, timeout=15).topics.get(topic_name)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise AdminError(f"topic {topic_name!r} does not exist")
    partitions: Sequence[int] = sorted(metadata.partitions)
    requests = {TopicPartition(topic_name, p): spec for p in partitions}
    listed = admin.list_offsets(requests, request_timeout=15)
    offsets: list[tuple[int, int]] = []
    for tp, future in listed.items():
        info = future.result()
        offset = info.offset
        if offset < 0:  # no record at or after the time: the end of the partition
            end = admin.list_offsets({tp: OffsetSpec.latest()}, request_timeout=15)[tp].result()
            offset = end.offset
        offsets.append((tp.partition, offset))
    offsets.sort()
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic_name, p, o) for p, o in offsets])
    admin.alter_consumer_group_offsets([request], request_timeout=15)[group].result()
    log.info("rewound group %s on %s to %s: %s", group, topic_name, target, offsets)
    if reset_state:
        reset_changelog(settings, group)
    return RewindPlan(group, topic_name, target, offsets)
