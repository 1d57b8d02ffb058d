"""Exactly-once runtime vs a raw confluent-kafka consume-and-produce loop, same broker, same records.

Both read the same 200,000 Torghut quote records (6 partitions) and write them unchanged to their
own output topic. The reference has no transactions, no state, no DLQ, no metrics: it is the floor
of what the client library costs. Throughput counts from the first record consumed to the moment
everything is durably written (the reference flushes; ours commits its last transaction).

    python benchmarks/runtime_passthrough.py [--records 200000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterable

from _common import kafka_settings, report
from confluent_kafka import Consumer, Producer

from streams.processor import FORMAT_RAW, Emit, KeyValueState, SourceRecord
from streams.settings import Settings
from tests.support.feeds import quote_feed
from tests.support.kafka_io import create_topics, produce_all
from torghut_domain.runtime import TorghutRuntime


class Passthrough:
    name = "passthrough"

    def __init__(self, source: str | tuple[str, ...], sink: str) -> None:
        sources = (source,) if isinstance(source, str) else source
        self.input_formats = {name: FORMAT_RAW for name in sources}  # several: merged in event time
        self.output_schemas: dict[str, str | None] = {sink: None}
        self.sink = sink

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        yield Emit(self.sink, record.key or "", record.value)


def raw_loop(settings: Settings, source: str, sink: str, records: int) -> float:
    consumer = Consumer({**settings.kafka_common(), "group.id": f"raw-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    producer = Producer({**settings.kafka_common(), "linger.ms": 5, "compression.type": "lz4",
                         "enable.idempotence": True, "partitioner": "murmur2_random"})
    consumer.subscribe([source])
    seen, started = 0, None
    while seen < records:
        batch = consumer.consume(settings.batch_size, timeout=0.02)
        if batch and started is None:
            started = time.monotonic()
        for msg in batch:
            if msg.error():
                continue
            while True:
                try:
                    producer.produce(sink, msg.value(), msg.key())
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
        producer.poll(0)
    producer.flush(60)
    elapsed = time.monotonic() - (started or time.monotonic())
    consumer.close()
    return records / elapsed


def runtime_loop(settings: Settings, source: str, sink: str, records: int) -> tuple[float, int]:
    runtime = TorghutRuntime(Passthrough(source, sink), settings, f"bench-{uuid.uuid4().hex[:8]}")
    stats = runtime.run(max_records=records, idle_timeout_s=60)
    assert stats.records_in == records and stats.first_record_at and stats.last_commit_at
    return records / (stats.last_commit_at - stats.first_record_at), stats.commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    settings = kafka_settings()
    tag = uuid.uuid4().hex[:8]
    source, sink_raw, sink_ours = f"bench-in-{tag}", f"bench-raw-{tag}", f"bench-ours-{tag}"
    create_topics(settings, [(source, 6, False), (sink_raw, 6, False), (sink_ours, 6, False)])
    print(f"producing {args.records:,} Torghut quote records to {source} ...")
    produce_all(settings, source, quote_feed(args.records, [f"S{i:03d}" for i in range(200)]))
    reference = raw_loop(settings, source, sink_raw, args.records)
    print(f"reference (raw consume+produce, no transactions): {reference:,.0f} records/s")
    ours, commits = runtime_loop(settings, source, sink_ours, args.records)
    print(f"ours (exactly-once runtime, commit every {settings.commit_interval_ms} ms, {commits} transactions): "
          f"{ours:,.0f} records/s")
    print(f"ratio ours/reference: {ours / reference:.3f} (goal >= 0.6)")
    report("runtime_passthrough", ours, reference, "records/s")


if __name__ == "__main__":
    main()
