"""`microexec tail`: any topic of the pipeline as JSON lines, the way ops read divergence and alerts.

Why it decodes by the record, not by the topic: the wire format says what a value is (Confluent
magic byte + schema id -> Avro through the registry; JSON text -> as is), so one command serves
every topic, including the DLQ whose values are whatever was refused.
"""

from __future__ import annotations

import base64
import json
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any, TextIO

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException, TopicPartition

from streams.dlq import headers_dict
from streams.processor import InvalidRecord
from streams.reading import partitions_of, reader
from streams.serde import AvroDecoder, Registry
from streams.settings import Settings


def decode_any(value: bytes | None, avro: AvroDecoder | None) -> Any:
    if value is None:
        return None
    if avro is not None and len(value) > 5 and value[0] == 0:
        try:
            return avro.decode(value)
        except InvalidRecord:
            pass
    try:
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"_base64": base64.b64encode(value).decode()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"_base64": base64.b64encode(value).decode()}
    return value


def tail(settings: Settings, topic: str, *, from_beginning: bool, follow: bool, last: int = 10,
         committed_only: bool = True) -> Iterator[dict[str, Any]]:
    registry = Registry(settings.schema_registry_url) if settings.schema_registry_url else None
    avro = AvroDecoder(None, registry) if registry else None
    consumer = reader(settings.kafka_common(), "microexec-tail", committed=committed_only)
    try:
        assignment = []
        for partition in partitions_of(consumer, topic):
            tp = TopicPartition(topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=15)
            if from_beginning:
                tp.offset = OFFSET_BEGINNING
            elif last > 0:
                # Transactional topics interleave commit markers with records, so N records may
                # span up to 2N offsets: read back further and keep the last N (see ``backlog``).
                tp.offset = max(low, high - 2 * last - 1)
            else:
                tp.offset = OFFSET_END
            assignment.append(tp)
        consumer.assign(assignment)
        at_end: set[int] = set()
        # Until every partition has reached its end once, keep only the last ``last`` per partition.
        backlog: dict[int, deque[dict[str, Any]]] | None = (
            None if from_beginning or last <= 0 else {tp.partition: deque(maxlen=last) for tp in assignment})
        while True:
            msg = consumer.poll(0.5)
            if msg is None:
                if not follow and len(at_end) == len(assignment):
                    return
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition() or 0)
                    if backlog is not None and len(at_end) == len(assignment):
                        yield from sorted((r for q in backlog.values() for r in q), key=lambda r: r["timestamp_ms"])
                        backlog = None
                    if not follow and len(at_end) == len(assignment):
                        return
                    continue
                raise KafkaException(err)
            at_end.discard(msg.partition() or 0)
            key = msg.key()
            record: dict[str, Any] = {
                "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                "timestamp_ms": msg.timestamp()[1],
                "key": key.decode("utf-8", "replace") if key is not None else None,
                "value": _jsonable(decode_any(msg.value(), avro)),
            }
            headers = msg.headers()
            if headers:
                record["headers"] = headers_dict(headers)
            if backlog is not None:
                backlog[msg.partition() or 0].append(record)
            else:
                yield record
    finally:
        consumer.close()


def print_tail(records: Iterator[dict[str, Any]], out: TextIO = sys.stdout) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        out.flush()
        count += 1
    return count
