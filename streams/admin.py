"""Topic administration and consumer-group offset rewinds.

Why rewind refuses a live group: moving offsets under running members is silently undone by their
next commit; Kafka itself rejects it, but with an error that does not say what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from streams.settings import Settings
from streams.timeutil import TimestampError, parse_iso_ms
from streams.topics import CATALOG

log = logging.getLogger("microexec.admin")


class AdminError(RuntimeError):
    pass


def topic_config(compacted: bool) -> dict[str, str]:
    conf = {"compression.type": "lz4"}
    if compacted:
        # Small segments and a low dirty ratio so the latest-per-key view converges quickly.
        conf.update({"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                     "segment.ms": "600000", "delete.retention.ms": "86400000"})
    return conf


def ensure_topics(admin: AdminClient, topics: Iterable[tuple[str, int, bool]], replication: int,
                  extra_config: dict[str, str] | None = None) -> list[str]:
    """Create missing topics (name, partitions, compacted); existing ones are left as they are."""
    wanted = list(topics)
    existing = set(admin.list_topics(timeout=15).topics)
    new = [NewTopic(name, num_partitions=parts, replication_factor=replication,
                    config={**topic_config(compacted), **(extra_config or {})})
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


def create_catalog_topics(settings: Settings) -> list[str]:
    admin = AdminClient(settings.kafka_common())
    return ensure_topics(admin, [(spec.name, settings.partitions, spec.compacted) for spec in CATALOG],
                         settings.replication_factor)


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


def rewind_group(settings: Settings, group: str, topic_name: str, target: str) -> RewindPlan:
    """Move a stopped group's committed offsets on ``topic_name`` to ``target``."""
    admin = AdminClient(settings.kafka_common())
    spec = _offset_spec(target)
    description = admin.describe_consumer_groups([group], request_timeout=15)[group].result()
    if description.members:
        ids = ", ".join(m.member_id for m in description.members)
        raise AdminError(f"group {group!r} has {len(description.members)} active member(s) ({ids}); "
                         "stop its consumers first, then rewind")
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
    return RewindPlan(group, topic_name, target, offsets)
