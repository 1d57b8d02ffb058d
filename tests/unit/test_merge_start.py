"""The merge at assignment: input partitions already at their end are marked so before their
end-of-partition events arrive (streams/merging.py, MergeFeed.mark_ended_at_start)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.merging import MergeFeed
from streams.ordering import EventTimeMerger


class _Consumer:
    """The two lookups mark_ended_at_start makes, answered from tables (a failing one raises)."""

    def __init__(self, marks: dict[tuple[str, int], tuple[int, int]], committed: dict[tuple[str, int], int],
                 failing: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.marks, self.committed_at, self.failing = marks, committed, failing

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.committed_at.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        assert not cached  # the client's cached marks come from fetches, which have not happened yet
        if (tp.topic, tp.partition) in self.failing:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return self.marks[(tp.topic, tp.partition)]


def _feed() -> tuple[MergeFeed, EventTimeMerger[str]]:
    merger: EventTimeMerger[str] = EventTimeMerger(["q", "t", "u"], max_idle_s=5.0, sparse=["u"])
    for name in ("q", "t", "u"):
        merger.assign(name, 0)
    return MergeFeed("test", merger), merger  # type: ignore[arg-type]


def test_empty_and_fully_read_inputs_release_the_merge_at_once() -> None:
    feed, merger = _feed()
    consumer = _Consumer({("q", 0): (0, 10), ("t", 0): (0, 0), ("u", 0): (5, 9)}, {("u", 0): 9})
    marked = feed.mark_ended_at_start(consumer, [TopicPartition(n, 0) for n in ("q", "t", "u")])  # type: ignore[arg-type]
    assert marked == 2  # t holds nothing; u was read to its end; q has records to read
    merger.add("q", 0, 100, 0, "q100")
    # No lateness bound: a head passes ended inputs at once; without the marks it would wait for
    # t's and u's events (or the idle limit).
    assert list(merger.drain(now=0.0)) == ["q100"]


def test_an_input_not_at_its_end_or_not_looked_up_still_holds_the_merge() -> None:
    feed, merger = _feed()
    consumer = _Consumer({("q", 0): (0, 10), ("t", 0): (0, 3), ("u", 0): (0, 0)}, {("t", 0): 2},
                         failing=frozenset({("u", 0)}))
    assert feed.mark_ended_at_start(consumer, [TopicPartition(n, 0) for n in ("q", "t", "u")]) == 0  # type: ignore[arg-type]
    merger.add("q", 0, 100, 0, "q100")
    assert list(merger.drain(now=0.0)) == []  # t has one record left to fetch, u is unknown
    merger.mark_end("t", 0)
    merger.mark_end("u", 0)
    assert list(merger.drain(now=0.1)) == ["q100"]


def test_a_record_written_after_the_lookup_takes_the_input_out_of_its_end() -> None:
    feed, merger = _feed()
    consumer = _Consumer({("q", 0): (0, 10), ("t", 0): (0, 0), ("u", 0): (0, 0)}, {})
    assert feed.mark_ended_at_start(consumer, [TopicPartition(n, 0) for n in ("q", "t", "u")]) == 2  # type: ignore[arg-type]
    merger.add("t", 0, 50, 0, "t50")
    merger.add("q", 0, 100, 0, "q100")
    assert list(merger.drain(now=0.0)) == ["t50"]  # then t is behind again until its event
    merger.mark_end("t", 0)
    assert list(merger.drain(now=0.1)) == ["q100"]


def test_drain_into_and_drain_release_the_same_records() -> None:
    merged = []
    for use_list in (False, True):
        merger: EventTimeMerger[str] = EventTimeMerger(["q", "t"])
        for name in ("q", "t"):
            merger.assign(name, 0)
            merger.mark_end(name, 0)
        merger.extend("q", 0, [(10, 0, "q10"), (30, 1, "q30")])
        merger.extend("t", 0, [(20, 0, "t20"), (5, 1, "t5")])
        out: list[str] = []
        if use_list:
            merger.drain_into(out, 0.0)
        else:
            out = list(merger.drain(0.0))
        merged.append((out, dict(merger.out_of_order)))
    # t delivered records and has not reported its end since, so q30 waits for it: the same either way.
    assert merged[0] == merged[1] == (["q10", "t20", "t5"], {"t": 1})
