"""The event-time merge's memory bound on the real broker: an input partition whose records the
merge must hold is paused at the cap and resumed once half is released, the buffer never grows far
past the cap, and every record still comes out once, in order."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from streams.merging import MergeFeed
from streams.ordering import EventTimeMerger
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all

pytestmark = pytest.mark.integration
N = 5000
CAP = 1000


def test_a_held_input_is_paused_at_the_cap_and_nothing_is_lost_or_reordered(kafka_settings: Settings,
                                                                             unique: str) -> None:
    settings = kafka_settings
    quotes, trades = f"mem-quotes-{unique}", f"mem-trades-{unique}"
    create_topics(settings, [(quotes, 1, False), (trades, 1, False)])
    # 1 ms apart: the whole feed is 5 s of event time, well inside a 2 s bound per 1,000 records, so
    # the merge must hold what it fetched until the wall-clock flush (dense input paused) lets it go.
    produce_all(settings, quotes, [(b"k", str(i).encode()) for i in range(N)], timestamps=range(1000, 1000 + N))
    consumer = Consumer({**settings.kafka_common(), "group.id": f"mem-{unique}", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    merger: EventTimeMerger[Message] = EventTimeMerger([quotes, trades], lateness_ms=2000)
    feed = MergeFeed(f"mem-{unique}", merger, max_buffered=CAP)
    consumer.assign([TopicPartition(quotes, 0, 0), TopicPartition(trades, 0, 0)])
    for name in (quotes, trades):
        merger.assign(name, 0)
    out: list[int] = []
    most = 0
    deadline = time.monotonic() + 60
    try:
        while len(out) < N:
            assert time.monotonic() < deadline, f"only {len(out)} of {N} released"
            batch = consumer.consume(200, timeout=0.05)
            out += [int(m.value() or b"-1") for m in feed.merge(batch, time.monotonic(), len(batch) < 200, consumer)]
            most = max(most, merger.buffered())
    finally:
        consumer.close()
    assert out == list(range(N))  # each record once, in order
    assert feed.pauses >= 2  # paused at the cap again and again, resumed in between
    assert most <= CAP + 200  # at most one batch past the cap
    assert merger.late == {}
