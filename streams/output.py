"""Encoding and producing a processor's outputs, and dead-lettering the records it refuses.

Why apart from the runtime loop: this is the producer side of a transaction (quix-streams' producer
module): which partition an output goes to, how an emitted dict becomes Avro bytes, what happens
when the local queue is full (wait, bounded by the stall timeout) and what a DLQ record carries.
The runtime decides *when* records are produced and committed; this decides *how*.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from confluent_kafka import Message, Producer

from streams import metrics
from streams.admin import TopologyError
from streams.clients import HEADER_ROOM, producer_max_bytes
from streams.dlq import dlq_headers
from streams.liveness import FatalRuntimeError, Liveness
from streams.partitioning import partition_for
from streams.processor import Emit, InvalidRecord
from streams.run_stats import RunStats
from streams.serde import AvroEncoder, Registry
from streams.settings import Settings

# topic, key, value, ts, headers, partition (-1: the producer's partitioner decides)
Encoded = tuple[str, bytes, bytes | None, int, tuple[tuple[str, bytes], ...], int]
_FIRST = itemgetter(0)

# Why outputs are produced with positional arguments: confluent-kafka's C ``produce`` parses
# (topic, value, key, partition, on_delivery, callback, timestamp, headers), and keywords cost ~0.6 us
# more per call (benchmarks/RESULTS.md, session 9), a tenth of a passthrough record's whole path.
# That order is the C signature's, not the docstring's (which omits ``callback``), so
# tests/integration/test_output_positional.py pins it against the broker.


def coords(msg: Message) -> tuple[str, int, int]:
    """Topic, partition, offset of a consumed (non-error) message; the client types them optional."""
    name, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert name is not None and partition is not None and offset is not None
    return name, partition, offset


def output_encoders(output_schemas: Mapping[str, str | None],
                    registry: Registry | None) -> dict[str, AvroEncoder | None]:
    """One encoder per output topic (None: a raw topic); registers each schema with the registry."""
    return {name: AvroEncoder(stem, name, registry) if stem else None for name, stem in output_schemas.items()}


class OutputWriter:
    """Encodes emits and produces them (and DLQ records) on the runtime's transactional producer."""

    def __init__(self, producer: Producer, app_id: str, encoders: dict[str, AvroEncoder | None], dlq_topic: str,
                 settings: Settings, live: Liveness, stats: RunStats) -> None:
        self.producer = producer
        self.app = app_id
        self.settings = settings
        self._max_bytes = settings.max_record_bytes  # read per output on the hot path
        self.stats = stats
        self.health = live.health
        self._live = live
        self._encoders = encoders
        self._dlq_topic = dlq_topic
        self._partition_counts: dict[str, int] = {}

    def produce_encoded(self, encoded: list[Encoded], counts_out: dict[str, int]) -> int:
        """Produce outputs in order (all of a batch at once: one tight loop, no call per record)."""
        produce = self.producer.produce
        full_since = 0.0
        for out_topic, out_key, payload, ts, headers, partition in encoded:
            header_list: list[tuple[str, str | bytes | None]] | None = list(headers) if headers else None
            while True:
                try:
                    # Positional, see the note at the top: (partition, on_delivery, callback, timestamp, headers).
                    produce(out_topic, payload, out_key, partition, None, None, ts, header_list)
                    break
                except BufferError:  # local queue full: serve delivery reports and try again
                    full_since = self.queue_full(full_since)
        for out_topic, count in Counter(map(_FIRST, encoded)).items():  # counted in C, not per record
            counts_out[out_topic] = counts_out.get(out_topic, 0) + count
        return len(encoded)

    def encode(self, emit: Emit, default_ts: int) -> Encoded:
        out_topic, key, value, ts, headers, partition_key = emit
        if ts is None:
            ts = default_ts
        partition = -1 if partition_key is None else partition_for(partition_key, self.partition_count(out_topic))
        try:
            encoder = self._encoders[out_topic]
        except KeyError:
            raise RuntimeError(f"processor emitted to {out_topic!r}, not in its output_schemas") from None
        if value is None or isinstance(value, bytes):
            if value is not None and len(value) > self._max_bytes:
                raise InvalidRecord("output_too_large", self._too_large(out_topic, value))
            return out_topic, key.encode("utf-8"), value, ts, headers, partition
        if encoder is None:
            raise RuntimeError(f"{out_topic} is a raw topic but the processor emitted a record")
        try:
            payload = encoder.encode(value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidRecord("output_schema_violation", f"{out_topic}: {exc}") from exc
        if len(payload) > self._max_bytes:
            raise InvalidRecord("output_too_large", self._too_large(out_topic, payload))
        return out_topic, key.encode("utf-8"), payload, ts, headers, partition

    def _too_large(self, out_topic: str, payload: bytes) -> str:
        """Why an output is refused before it reaches the producer: librdkafka refuses a record over
        ``message.max.bytes`` inside ``produce()``, which would end the process on the same input at
        every restart; refused here, the input goes to the DLQ and the partition goes on."""
        return f"{out_topic}: {len(payload)} bytes > MICROEXEC_MAX_RECORD_BYTES={self._max_bytes}"

    def partition_count(self, out_topic: str) -> int:
        """Partitions of an output topic, read once (a topic's partition count only grows, and
        growing it re-routes keys for every producer alike)."""
        count = self._partition_counts.get(out_topic)
        if count is None:
            metadata = self.producer.list_topics(out_topic, timeout=15).topics.get(out_topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise TopologyError(f"output topic {out_topic!r} does not exist (run `microexec topics create`)")
            count = self._partition_counts[out_topic] = len(metadata.partitions)
        return count

    def produce(self, out_topic: str, value: bytes | None, key: bytes | None, timestamp_ms: int | None,
                 headers: list[tuple[str, bytes]] | None = None, partition: int | None = None) -> None:
        kwargs: dict[str, Any] = {} if timestamp_ms is None else {"timestamp": timestamp_ms}
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        full_since = 0.0
        while True:
            try:
                self.producer.produce(out_topic, value, key, **kwargs)
                return
            except BufferError:  # local queue full: serve delivery reports and try again
                full_since = self.queue_full(full_since)

    def queue_full(self, since: float) -> float:
        """Wait a little for the producer's queue to drain (a broker that does not take records);
        Stalled (fatal) once it has been full for the stall timeout."""
        now = time.monotonic()
        since = since or now
        if now - since > self.settings.stall_timeout_s:
            self._live.failed = True
            raise FatalRuntimeError(f"{self.app}: producer queue full for {now - since:.0f}s "
                                    "(MICROEXEC_STALL_TIMEOUT_S): the broker takes no records")
        self.producer.poll(0.05)
        self.health.beat()
        return since

    def dead_letter(self, msg: Message, reason: str, detail: str) -> None:
        _, timestamp_ms = msg.timestamp()
        value, limit = msg.value(), producer_max_bytes(self.settings) - HEADER_ROOM
        if value is not None and len(value) > limit:
            # An input larger than the producer takes cannot be copied whole (produce() would refuse it
            # and end the process at every restart): keep its head; the headers name the original.
            detail = f"{detail}; value truncated to its first {limit} of {len(value)} bytes"
            value = value[:limit]
        headers = dlq_headers(self.app, reason, detail, *coords(msg), timestamp_ms)
        # The DLQ record is stamped now (the source time is in a header): an operational event must
        # not fall to time retention at once because it refused a replay of old history.
        self.produce(self._dlq_topic, value, msg.key(), None, headers)
        self.stats.dlq += 1
        self.stats.dlq_reasons[reason] = self.stats.dlq_reasons.get(reason, 0) + 1
        metrics.DLQ.labels(self.app, reason).inc()

