"""Event-time merge of a processor's input topics, per partition number, with bounded lateness.

Why: the state consumer reads quotes, trades, trade-updates and L2 books of a symbol from four
topics. Kafka returns them interleaved by fetch, which differs from run to run and between a live
feed and a rewind, so the order in which records are applied must be decided by the data alone.

The order (the same live, on a backlog, and in the offline driver): within one partition number,
always process the head record with the smallest key (timestamp, the topic's position in
``input_formats``, offset). Offline every input is complete, so that is the whole rule
(``merge_in_event_time``). Live, a topic whose buffer is empty may still deliver a record that
belongs before the head, so the head waits until the data says that cannot happen:

* a topic that is *behind* (it delivered records and has not reported its end since) blocks the
  group: its next records are already on their way. This is what makes backlog replays
  deterministic. A wall-clock limit (``max_idle_s``, counted only while the consumer is caught up)
  keeps a topic that never answers from stalling the group: liveness, as Kafka Streams'
  ``max.task.idle.ms``.
* a topic that is *at its end* (it reported end of partition: everything written so far has been
  fetched) blocks a head of timestamp ``t`` only while ``t > D - L``, where ``D`` is the newest
  timestamp fetched from the group's *dense* inputs (the market streams) and ``L`` the topic's
  lateness bound (``lateness_ms`` for dense inputs, ``sparse_lateness_ms`` for sparse or optional
  ones). The contract with producers: a record is written before any dense record more than ``L``
  newer than it. Under it, nothing can overtake the head, and the live order equals the replay's.
  If the dense streams pause (no new dense record for ``L`` of wall time: end of a backlog, a
  quiet market), a head held only by this rule is released (``flushes``); a dense stream that
  merely crawls is given up on after ``L + max_idle_s`` of wall time. The wall clock only ever
  ends a wait (liveness); while the dense streams move, event time alone decides.

A record that breaks the contract (it arrives after the group released a record it should have
preceded) is *late*: it is processed at once, in arrival order, and counted per topic in
``late``. Nothing is dropped (a late record is valid input, not bad input, so it does not go to
the DLQ; the processor decides what an old event means, e.g. the state consumer ignores a quote
older than the book it holds and counts it in its state). ``out_of_order`` counts every released
record older than one released before it in its group, whatever the cause (late arrival, or
records out of order within one topic, which a replay repeats).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Generic, TypeVar

T = TypeVar("T")
_FIRST = itemgetter(0)
_NEVER = (-(1 << 62), -1)  # a key below every real (timestamp, rank)


class EventTimeMerger(Generic[T]):
    """Buffers items per (topic, partition) and releases them in merged event-time order."""

    def __init__(self, topics: Sequence[str], max_idle_s: float = 0.5, *, lateness_ms: int = 0,
                 sparse: Iterable[str] = (), sparse_lateness_ms: int | None = None) -> None:
        if lateness_ms < 0 or (sparse_lateness_ms is not None and sparse_lateness_ms < 0):
            raise ValueError("lateness bounds must be >= 0 ms")
        self.rank = {name: i for i, name in enumerate(topics)}
        self.max_idle_s = max_idle_s
        sparse_set = set(sparse)
        unknown = sparse_set - set(topics)
        if unknown:
            raise ValueError(f"sparse inputs {sorted(unknown)} are not inputs of the merge")
        self.dense = frozenset(topics) - sparse_set
        sparse_l = lateness_ms if sparse_lateness_ms is None else sparse_lateness_ms
        self.lateness = {name: (sparse_l if name in sparse_set else lateness_ms) for name in topics}
        self._buffers: dict[int, dict[str, deque[tuple[int, int, T]]]] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._at_end: set[tuple[str, int]] = set()
        self._blocked_since: dict[int, float] = {}
        self._hold_snap: dict[int, int | None] = {}  # newest dense timestamp the drain has seen...
        self._dense_moved_at: dict[int, float] = {}  # ...and since when (wall clock)
        self._flush_upto: dict[int, int] = {}  # a wall-clock flush releases heads up to this timestamp
        self._dense_max: dict[int, int] = {}  # D per partition number
        self._max_released: dict[int, int] = {}  # newest timestamp released per partition number
        # Per partition and topic: the largest (timestamp, rank) released from the *other* topics
        # since this topic last released a record (what a new record of it must not be older than).
        self._overtaken: dict[int, dict[str, tuple[int, int]]] = {}
        self.late: dict[str, int] = {}
        self.out_of_order: dict[str, int] = {}
        self.flushes = 0

    # ------------------------------------------------------------------ bookkeeping
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
                for per_partition in (self._blocked_since, self._hold_snap, self._dense_moved_at, self._flush_upto,
                                      self._dense_max, self._max_released, self._overtaken):
                    per_partition.pop(partition, None)

    def clear(self) -> None:
        """Forget buffered items and what was released (after an abort the consumer re-fetches and
        re-processes from the committed offsets, so the new run is judged afresh)."""
        for group in self._buffers.values():
            for buf in group.values():
                buf.clear()
        for per_partition in (self._at_end, self._blocked_since, self._hold_snap, self._dense_moved_at,
                              self._flush_upto, self._dense_max, self._max_released, self._overtaken):
            per_partition.clear()

    def add(self, topic: str, partition: int, timestamp_ms: int, offset: int, item: T) -> None:
        self.extend(topic, partition, [(timestamp_ms, offset, item)])

    def extend(self, topic: str, partition: int, entries: list[tuple[int, int, T]]) -> None:
        """Buffer consecutive (timestamp_ms, offset, item) entries of one topic-partition (the
        consumer hands out records in such stretches)."""
        if not entries:
            return
        self._at_end.discard((topic, partition))
        group = self._buffers.get(partition)
        if group is None:
            group = self._buffers[partition] = {}
        buf = group.get(topic)
        if buf is None:
            buf = group[topic] = deque()
        if topic in self.dense:
            newest = max(map(_FIRST, entries))
            if newest > self._dense_max.get(partition, _NEVER[0]):
                self._dense_max[partition] = newest
        buf.extend(entries)

    def mark_end(self, topic: str, partition: int) -> None:
        """The consumer reached the end of (topic, partition): everything written so far is fetched."""
        self._at_end.add((topic, partition))

    def first_buffered_offset(self, topic: str, partition: int) -> int | None:
        buf = self._buffers.get(partition, {}).get(topic)
        return buf[0][1] if buf else None

    def buffered(self) -> int:
        return sum(len(buf) for group in self._buffers.values() for buf in group.values())

    def buffered_in(self, topic: str, partition: int) -> int:
        return len(self._buffers.get(partition, {}).get(topic, ()))

    def buffered_by_input(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs holding records."""
        return [(name, partition) for partition, group in self._buffers.items() for name, buf in group.items() if buf]

    # ------------------------------------------------------------------ release
    def _released(self, partition: int, topic: str, key: tuple[int, int]) -> bool:
        """Record the release of an item of ``topic`` with ``key``; True if it is late: older than a
        record released from another topic since this topic's last on-time release (a replay would
        have applied it before that record). A late release does not reset the topic's mark, so
        every record of a late stretch counts, not only its first."""
        overtaken = self._overtaken.get(partition)
        if overtaken is None:
            overtaken = self._overtaken[partition] = {}
        mark = overtaken.get(topic)
        late = mark is not None and key < mark
        if not late:
            overtaken.pop(topic, None)
        for name in self._buffers[partition]:
            if name != topic:
                prev = overtaken.get(name)
                if prev is None or key > prev:
                    overtaken[name] = key
        return late

    def _release_only_input(self, partition: int, group: dict[str, deque[tuple[int, int, T]]],
                            dense_max: int | None, flush_upto: int, max_released: int) -> list[T]:
        """The common case in one tight loop: one input holds records and every other input is at its
        end (or not ours). Releases the prefix its bound allows, with the same bookkeeping the
        general loop does per record (the general loop then handles a held head's wall clock)."""
        only = ""
        bound: int | None = None
        unknown = False
        for name, buf in group.items():
            if buf:
                if only:
                    return []
                only = name
            elif (name, partition) in self._assigned:
                if (name, partition) not in self._at_end:
                    return []
                if dense_max is None:
                    unknown = True
                else:
                    limit = dense_max - self.lateness[name]
                    if bound is None or limit < bound:
                        bound = limit
        if not only:
            return []
        buf = group[only]
        rank = self.rank.get(only, len(self.rank))
        overtaken = self._overtaken.setdefault(partition, {})
        mark = overtaken.get(only)
        out: list[T] = []
        late = disorder = 0
        top: int | None = None
        while buf:
            ts = buf[0][0]
            if ts > flush_upto and (unknown or (bound is not None and ts > bound)):
                break
            out.append(buf.popleft()[2])
            if ts < max_released:
                disorder += 1
            else:
                max_released = ts
            if mark is not None:
                if (ts, rank) < mark:
                    late += 1
                else:
                    mark = None
            if top is None or ts > top:
                top = ts
        if top is None:
            return out
        self._max_released[partition] = max_released
        if mark is None:
            overtaken.pop(only, None)
        key = (top, rank)
        for name in group:
            if name != only:
                prev = overtaken.get(name)
                if prev is None or key > prev:
                    overtaken[name] = key
        if late:
            self.late[only] = self.late.get(only, 0) + late
        if disorder:
            self.out_of_order[only] = self.out_of_order.get(only, 0) + disorder
        return out

    def drain(self, now: float, caught_up: bool = True) -> Iterator[T]:
        """Every item that may be processed now, in merged order (see the module docstring).

        ``caught_up`` False means the consumer may already hold more records locally (its last
        batch was full): a blocked group then waits without its wall clocks running, since time
        spent working through a backlog is not waiting."""
        out: list[T] = []
        self.drain_into(out, now, caught_up)
        yield from out

    def drain_into(self, out: list[T], now: float, caught_up: bool = True) -> None:
        """``drain``, appending to ``out``: the runtime takes every released item at once, and a
        list costs less per item than resuming a generator (the merge sits on every record's path)."""
        rank = self.rank
        nrank = len(rank)
        lateness = self.lateness
        hold_s = max(lateness.values(), default=0) / 1000.0
        assigned, at_end = self._assigned, self._at_end
        for partition, group in self._buffers.items():
            dense_max = self._dense_max.get(partition)
            if dense_max != self._hold_snap.get(partition) or not caught_up:  # a backlog is no pause
                self._hold_snap[partition] = dense_max
                self._dense_moved_at[partition] = now
            max_released = self._max_released.get(partition, _NEVER[0])
            flush_upto = self._flush_upto.get(partition, _NEVER[0])
            released = self._release_only_input(partition, group, dense_max, flush_upto, max_released)
            if released:
                max_released = self._max_released.get(partition, max_released)
                out.extend(released)
            while True:
                head_key: tuple[int, int, int] | None = None
                head_topic = ""
                behind = constrained = unknown = False
                bound = 0  # with ``constrained``: heads up to this timestamp pass every at-end input
                for name, buf in group.items():
                    if buf:
                        ts, offset, _ = buf[0]
                        key = (ts, rank.get(name, nrank), offset)
                        if head_key is None or key < head_key:
                            head_key, head_topic = key, name
                    elif (name, partition) in assigned:
                        if (name, partition) not in at_end:
                            behind = True
                        elif dense_max is None:
                            constrained = unknown = True  # no dense record yet: no time to judge by
                        else:
                            limit = dense_max - lateness[name]
                            if not constrained or limit < bound:
                                bound = limit
                            constrained = True
                if head_key is None:
                    self._blocked_since.pop(partition, None)
                    break
                ts = head_key[0]
                held = behind or (constrained and (unknown or ts > bound) and ts > flush_upto)
                if held:
                    if not caught_up:
                        self._blocked_since.pop(partition, None)
                        break
                    since = self._blocked_since.get(partition)
                    if since is None:
                        self._blocked_since[partition] = since = now
                    if behind:
                        if now - since < self.max_idle_s:
                            break
                    else:
                        # Flush only when the dense streams paused for the bound in wall time (or,
                        # for a stream that merely crawls, after the idle limit on top): while they
                        # move, the event-time rule releases the head by itself, and a flush racing
                        # it would overtake records still within the bound.
                        paused = now - self._dense_moved_at.get(partition, now) >= hold_s
                        if not paused and now - since < hold_s + self.max_idle_s:
                            break
                        flush_upto = self._flush_upto[partition] = ts if dense_max is None else max(ts, dense_max)
                        self._blocked_since[partition] = now
                        self.flushes += 1
                else:
                    self._blocked_since.pop(partition, None)
                item = group[head_topic].popleft()[2]
                if ts < max_released:
                    self.out_of_order[head_topic] = self.out_of_order.get(head_topic, 0) + 1
                else:
                    max_released = self._max_released[partition] = ts
                if self._released(partition, head_topic, (ts, head_key[1])):
                    self.late[head_topic] = self.late.get(head_topic, 0) + 1
                out.append(item)


def merge_in_event_time(topics: Sequence[str], records: Iterable[tuple[str, int, int, int, T]]) -> Iterator[T]:
    """Offline form: (topic, partition, timestamp_ms, offset, item) of complete inputs, merged as the
    runtime merges them once every input is at its end and nothing more can arrive."""
    merger: EventTimeMerger[T] = EventTimeMerger(topics)
    for topic, partition, timestamp_ms, offset, item in records:
        merger.add(topic, partition, timestamp_ms, offset, item)
    yield from merger.drain(0.0)
