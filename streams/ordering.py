"""Event-time merge of a processor's input topics, per partition number.

Why: the state consumer reads quotes, trades and trade-updates of a symbol from three topics. Kafka
returns them interleaved by fetch, which differs from run to run, so without a rule the same
inputs would give different states on a replay. The rule (Kafka Streams' as well): within one
partition number, always process the head record with the smallest timestamp (ties by the
topic's position in ``input_formats``, then by offset), and only pick while every input topic of
the group either has a buffered record or is known to be at its end, so a record cannot overtake
one that was merely slower to fetch. A group that waits longer than ``max_idle_s`` for a topic
proceeds anyway: liveness over ordering, as with Kafka Streams' ``max.task.idle.ms``. That clock
runs only while the consumer is caught up (its last batch was not full): time spent working
through a backlog is not waiting, and counting it made backlog replays merge differently from
run to run.

The offline driver applies the same merge to files, which is what makes a replay from files equal
a replay by offset rewind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class EventTimeMerger(Generic[T]):
    """Buffers items per (topic, partition) and releases them in merged event-time order."""

    def __init__(self, topics: Sequence[str], max_idle_s: float = 0.5) -> None:
        self.rank = {name: i for i, name in enumerate(topics)}
        self.max_idle_s = max_idle_s
        self._buffers: dict[int, dict[str, deque[tuple[int, int, T]]]] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._at_end: set[tuple[str, int]] = set()
        self._blocked_since: dict[int, float] = {}

    def assign(self, topic: str, partition: int) -> None:
        self._assigned.add((topic, partition))
        self._buffers.setdefault(partition, {}).setdefault(topic, deque())

    def revoke(self, topic: str, partition: int) -> None:
        self._assigned.discard((topic, partition))
        self._at_end.discard((topic, partition))
        group = self._buffers.get(partition)
        if group is not None:
            group.pop(topic, None)
            if not group:
                del self._buffers[partition]
                self._blocked_since.pop(partition, None)

    def clear(self) -> None:
        """Forget buffered items (after an abort the consumer re-fetches them)."""
        for group in self._buffers.values():
            for buf in group.values():
                buf.clear()
        self._at_end.clear()
        self._blocked_since.clear()

    def add(self, topic: str, partition: int, timestamp_ms: int, offset: int, item: T) -> None:
        self._at_end.discard((topic, partition))
        self._buffers.setdefault(partition, {}).setdefault(topic, deque()).append((timestamp_ms, offset, item))

    def extend(self, topic: str, partition: int, entries: list[tuple[int, int, T]]) -> None:
        """``add`` for consecutive (timestamp_ms, offset, item) entries of one topic-partition: the
        consumer hands out records in such stretches, and per-record bookkeeping showed in the
        runtime's profile."""
        self._at_end.discard((topic, partition))
        group = self._buffers.get(partition)
        if group is None:
            group = self._buffers[partition] = {}
        buf = group.get(topic)
        if buf is None:
            buf = group[topic] = deque()
        buf.extend(entries)

    def passable(self, topic: str, partition: int) -> bool:
        """Whether new records of (topic, partition) may skip the buffers: nothing of the partition
        is buffered and every other input of it is at its end, so nothing could overtake them (the
        drain's fast path, decided before paying for buffering). Marks the topic as not at its end."""
        self._at_end.discard((topic, partition))
        group = self._buffers.get(partition)
        if group is not None:
            for name, buf in group.items():
                if buf or (name != topic and (name, partition) in self._assigned
                           and (name, partition) not in self._at_end):
                    return False
        self._blocked_since.pop(partition, None)
        return True

    def mark_end(self, topic: str, partition: int) -> None:
        """The consumer reached the end of (topic, partition): it can't hold back the group."""
        self._at_end.add((topic, partition))

    def first_buffered_offset(self, topic: str, partition: int) -> int | None:
        buf = self._buffers.get(partition, {}).get(topic)
        return buf[0][1] if buf else None

    def buffered(self) -> int:
        return sum(len(buf) for group in self._buffers.values() for buf in group.values())

    def drain(self, now: float, caught_up: bool = True) -> Iterator[T]:
        """Every item that may be processed now, in merged order.

        ``caught_up`` False means the consumer may already hold more records locally (its last
        batch was full): a blocked group then waits without its idle clock running. Otherwise time
        spent processing a large backlog would count as waiting, the idle limit would release a
        group before its slower topic's records (already fetched) were merged, and the same inputs
        would be merged differently from run to run (seen on recorded data with three topics)."""
        rank = self.rank
        for partition, group in self._buffers.items():
            # Fast path: one topic has records and every other input is at its end (or not ours):
            # nothing can overtake, release the whole buffer without comparing heads.
            loaded = [buf for buf in group.values() if buf]
            if len(loaded) == 1 and all(
                    buf or (name, partition) not in self._assigned or (name, partition) in self._at_end
                    for name, buf in group.items()):
                self._blocked_since.pop(partition, None)
                only = loaded[0]
                while only:
                    yield only.popleft()[2]
                continue
            while True:
                head_key: tuple[int, int, int] | None = None
                head_topic = ""
                blocked = False
                for name, buf in group.items():
                    if buf:
                        ts, offset, _ = buf[0]
                        key = (ts, rank.get(name, len(rank)), offset)
                        if head_key is None or key < head_key:
                            head_key, head_topic = key, name
                    elif (name, partition) in self._assigned and (name, partition) not in self._at_end:
                        blocked = True
                if head_key is None:
                    self._blocked_since.pop(partition, None)
                    break
                if blocked:
                    if not caught_up:
                        self._blocked_since.pop(partition, None)
                        break
                    since = self._blocked_since.setdefault(partition, now)
                    if now - since < self.max_idle_s:
                        break
                else:
                    self._blocked_since.pop(partition, None)
                yield group[head_topic].popleft()[2]


def merge_in_event_time(topics: Sequence[str], records: Iterable[tuple[str, int, int, int, T]]) -> Iterator[T]:
    """Offline form: (topic, partition, timestamp_ms, offset, item) of complete inputs, merged as the
    runtime merges them once every input is at its end."""
    merger: EventTimeMerger[T] = EventTimeMerger(topics)
    for topic, partition, timestamp_ms, offset, item in records:
        merger.add(topic, partition, timestamp_ms, offset, item)
    yield from merger.drain(0.0)
