"""Restore time of keyed state: a changelog partition of 10,000 per-symbol states read back into a
fresh partition state by the runtime's own restore (streams/restore.py: read_committed, decode the
Avro changelog record, parse the state JSON), against a plain read of the same records to the end
with the same consumer settings and no decoding (the reference: what the broker and client cost).

    python benchmarks/state_restore.py [--keys 10000] [--versions 1] [--repeat 3]

The states are real ones: the state consumer's own state of a symbol after a few hundred quotes and
trades, renamed per key. ``--versions N`` writes every key N times, as a changelog the broker has not
compacted yet holds it (the restore reads every version; the last one wins). With the state TTL
(MICROEXEC_STATE_TTL_S) an idle symbol leaves a tombstone, so after compaction a restore reads only
the symbols still trading.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from _common import kafka_settings, report
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from consumers.state.processor import StateProcessor
from streams.clients import restore_consumer
from streams.deadline import Deadline
from streams.offline import run_offline
from streams.restore import replay
from streams.serde import AvroDecoder, AvroEncoder, Registry
from streams.state import TransactionalState, canonical_json
from tests.support.kafka_io import create_topics
from tests.support.synthetic_market import synthetic_market


def _template() -> str:
    """One symbol's state as the state consumer writes it to its changelog (canonical JSON)."""
    result = run_offline(StateProcessor(), list(synthetic_market(["TPL"], 600, seed=5, trade_every=6)))
    return canonical_json(result.states[0].snapshot()["TPL"])


def _fill(settings, changelog: str, keys: int, versions: int, registry: Registry) -> int:
    encoder = AvroEncoder("changelog_state_v1", changelog, registry)
    state_json = _template()
    producer = Producer({**settings.kafka_common(), "linger.ms": 20, "compression.type": "lz4",
                         "queue.buffering.max.messages": 1_000_000})
    n = 0
    for version in range(versions):
        for k in range(keys):
            value = encoder.encode({"app_id": "bench", "state_key": f"S{k:05d}",
                                    "state_json": state_json.replace("1767", f"1767{version}"[:4]),
                                    "source_topic": None, "source_partition": 0, "source_offset": None})
            while True:
                try:
                    producer.produce(changelog, value, f"S{k:05d}".encode(), partition=0)
                    break
                except BufferError:
                    producer.poll(0.05)
            n += 1
    producer.flush(60)
    return n


def _restore(settings, changelog: str, registry: Registry) -> tuple[float, int, int]:
    consumer = restore_consumer(settings, f"bench-restore-{uuid.uuid4().hex[:6]}")
    state = TransactionalState()
    decoder = AvroDecoder("changelog_state_v1", registry)
    started = time.perf_counter()
    records = replay(consumer, changelog, 0, state, decoder, Deadline(60.0), lambda: None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed, records, len(state.live_keys())


def _plain_read(settings, changelog: str) -> tuple[float, int]:
    consumer = Consumer({**settings.kafka_common(), "group.id": f"bench-read-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed", "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(changelog, 0, OFFSET_BEGINNING)])
    started, n = time.perf_counter(), 0
    done = False
    while not done:
        for msg in consumer.consume(500, timeout=0.05):
            err = msg.error()
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                done = True
                break
            n += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.keys < 1 or args.versions < 1 or args.repeat < 1:
        raise SystemExit("--keys, --versions and --repeat must be >= 1")
    settings = kafka_settings()
    registry = Registry(settings.schema_registry_url)
    changelog = f"bench-restore-{uuid.uuid4().hex[:8]}.changelog"
    create_topics(settings, [(changelog, 1, True)])
    n = _fill(settings, changelog, args.keys, args.versions, registry)
    print(f"{changelog}: {n:,} changelog records ({args.keys:,} keys x {args.versions}), "
          f"state JSON {len(_template()):,} bytes per key")
    ours, plain = [], []
    for _ in range(args.repeat):  # alternated, so both see the same machine
        p_s, p_n = _plain_read(settings, changelog)
        r_s, r_n, live = _restore(settings, changelog, registry)
        assert p_n == n and r_n == n and live == args.keys, (p_n, r_n, live)
        plain.append(p_s)
        ours.append(r_s)
        print(f"  restore {r_s:.3f} s ({r_n / r_s:,.0f} records/s, {live:,} keys live); plain read {p_s:.3f} s")
    med_ours, med_plain = statistics.median(ours), statistics.median(plain)
    print(f"median restore of {args.keys:,} keys x {args.versions}: {med_ours:.3f} s "
          f"(plain read of the same records {med_plain:.3f} s)")
    report(f"state_restore_{args.keys}_keys", med_ours, med_plain, "s (reference: plain read of the changelog)")


if __name__ == "__main__":
    main()
