"""MergeFeed.merge buffers a consumed batch stretch by stretch (streams/merging.py): records of
several topic-partitions interleaved, end-of-partition events between them. Checked against
``merge_in_event_time``, the offline rule: once every input has ended, the merge releases the
records in exactly its order, and every end-of-partition event is seen."""

from __future__ import annotations

import numpy as np
from confluent_kafka import KafkaError, Message

from streams.merging import MergeFeed
from streams.ordering import EventTimeMerger, merge_in_event_time

TOPICS = ("q", "t", "u")


def _batch(seed: int) -> tuple[list[Message], list[tuple[str, int, int, int, Message]]]:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    offsets = {(name, p): 0 for name in TOPICS for p in (0, 1)}
    clock = {(name, p): 1_000 for name in TOPICS for p in (0, 1)}
    batch: list[Message] = []
    records: list[tuple[str, int, int, int, Message]] = []
    for _ in range(60):  # runs of 1-8 records of one topic-partition, as fetches hand them out
        name, p = TOPICS[int(rng.integers(3))], int(rng.integers(2))
        for _ in range(int(rng.integers(1, 9))):
            clock[name, p] += int(rng.integers(0, 5))
            msg = Message(topic=name, partition=p, offset=offsets[name, p], timestamp=(1, clock[name, p]),
                          value=b"x")
            offsets[name, p] += 1
            batch.append(msg)
            records.append((name, p, clock[name, p], msg.offset() or 0, msg))
    for name in TOPICS:  # every input ends, some events between records
        for p in (0, 1):
            eof = Message(topic=name, partition=p, error=KafkaError(KafkaError._PARTITION_EOF))
            batch.insert(int(rng.integers(len(batch) + 1)), eof)
    return batch, records


def test_a_mixed_batch_is_released_in_the_offline_order() -> None:
    for seed in range(5):
        batch, records = _batch(seed)
        merger: EventTimeMerger[Message] = EventTimeMerger(list(TOPICS), max_idle_s=5.0)
        for name in TOPICS:
            for p in (0, 1):
                merger.assign(name, p)
        feed = MergeFeed("test", merger)
        # An end event placed before its partition's last records does not end it: re-mark after.
        released = feed.merge(batch, now=0.0, caught_up=True)
        for name in TOPICS:
            for p in (0, 1):
                merger.mark_end(name, p)
        released += feed.merge([], now=0.0, caught_up=True)
        expected = {p: [m.offset() for m in merge_in_event_time(
            TOPICS, [(n, q, ts, off, m) for n, q, ts, off, m in records if q == p])] for p in (0, 1)}
        got = {p: [m.offset() for m in released if m.partition() == p] for p in (0, 1)}
        got_topics = {p: [m.topic() for m in released if m.partition() == p] for p in (0, 1)}
        want_topics = {p: [m.topic() for m in merge_in_event_time(
            TOPICS, [(n, q, ts, off, m) for n, q, ts, off, m in records if q == p])] for p in (0, 1)}
        assert got == expected and got_topics == want_topics
        assert len(released) == len(records)
