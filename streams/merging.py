"""The runtime's side of the event-time merge: consumed batches in, records to process out.

Why a module of its own: the runtime (streams/runtime.py) owns transactions and the hot path; how a
batch of messages is split into topic-partition stretches, fed to the merger, and how the merge's
counters become Prometheus metrics is merge business (streams/ordering.py has the rule itself).

A processor tells the merge which inputs are sparse or optional with an optional attribute
``sparse_inputs`` (a collection of topic names; every other input is dense), and may set a default
bound for them with ``sparse_lateness_ms`` (the environment overrides it). The lateness bounds
come from the settings (``MICROEXEC_LATENESS_MS``, ``MICROEXEC_SPARSE_LATENESS_MS``,
``MICROEXEC_MERGE_IDLE_MS``), see docs/ordering.md.
"""

from __future__ import annotations

import logging
import time
from itertools import compress, groupby, repeat
from operator import is_not, itemgetter

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streams import metrics
from streams.liveness import fatal_consumer_error
from streams.ordering import EventTimeMerger
from streams.processor import Processor
from streams.settings import Settings

_ERROR, _TOPIC, _PARTITION = Message.error, Message.topic, Message.partition
_TIMESTAMP, _OFFSET = Message.timestamp, Message.offset
_FIRST, _SECOND = itemgetter(0), itemgetter(1)

log = logging.getLogger("microexec.merge")


class FatalConsumerError(RuntimeError):
    """A fatal consumer error surfaced in a batch (the runtime turns it into its own fatal error)."""


def merger_for(processor: Processor, settings: Settings) -> EventTimeMerger[Message] | None:
    """The merge a processor's inputs need (None for a single input), with the settings' bounds."""
    topics = list(processor.input_formats)
    if len(topics) < 2:
        return None
    sparse = [name for name in getattr(processor, "sparse_inputs", ()) if name in processor.input_formats]
    sparse_lateness = settings.sparse_lateness_ms
    if sparse_lateness is None:
        sparse_lateness = getattr(processor, "sparse_lateness_ms", None)
    return EventTimeMerger(topics, settings.merge_idle_ms / 1000.0, lateness_ms=settings.lateness_ms,
                           sparse=sparse, sparse_lateness_ms=sparse_lateness)


class MergeFeed:
    """Feeds consumed batches to ``merger`` and exports its counters under ``app``'s label.

    Memory is bounded as quix-streams bounds its buffers: a topic-partition holding ``max_buffered``
    records in the merge is paused (the client stops fetching it) and resumed once half of them
    have been released. Pausing never changes the order: a paused input still has buffered
    records, so it takes part in the merge like any other; it only stops the client from reading
    further ahead of what the merge can release.
    """

    def __init__(self, app: str, merger: EventTimeMerger[Message], max_buffered: int = 100_000) -> None:
        self.app = app
        self.merger = merger
        self.max_buffered = max_buffered
        self._paused: set[tuple[str, int]] = set()
        self.pauses = 0  # pause calls so far (a test and the log read it)
        self._late: dict[str, int] = {}
        self._out_of_order: dict[str, int] = {}
        self._flushes = 0
        self._buffered = metrics.MERGE_BUFFERED.labels(app)

    def mark_ended_at_start(self, consumer: Consumer, partitions: list[TopicPartition], budget_s: float = 2.0) -> int:
        """Tell the merge, at assignment, which input partitions are already at their end: those
        holding no records (low == high watermark) or whose committed offset is their high
        watermark (a restart after everything was read). Why: their end-of-partition events come
        only after whatever the first fetches returned from the other inputs (librdkafka queues
        them behind those records: measured ~70,000 quotes and 100-240 ms before the merge could
        release its first record). Marking an end early is what the event would do: a record
        written since still takes the partition out of its end (``extend``), under the same
        lateness contract. Best effort within ``budget_s``: a partition not looked up waits for
        its event as before. Returns the number marked."""
        deadline = time.monotonic() + budget_s
        try:
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in consumer.committed([TopicPartition(tp.topic, tp.partition) for tp in partitions],
                                                      timeout=budget_s)}
        except KafkaException as exc:
            log.debug("committed offsets at assignment: %s", exc)
            committed = {}
        marked = 0
        for tp in partitions:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                           timeout=remaining, cached=False)
            except KafkaException as exc:
                log.debug("watermarks of %s[%d] at assignment: %s", tp.topic, tp.partition, exc)
                continue
            if low == high or committed.get((tp.topic, tp.partition), -1) == high:
                self.merger.mark_end(tp.topic, tp.partition)
                marked += 1
        return marked

    def clear(self, consumer: Consumer) -> None:
        """After an abort: forget the buffers (the consumer re-fetches from committed offsets)."""
        self.merger.clear()
        self._resume(consumer, set(self._paused))

    def revoke(self, topic: str, partition: int) -> None:
        self.merger.revoke(topic, partition)
        self._paused.discard((topic, partition))  # pause state goes with the assignment

    def _resume(self, consumer: Consumer, which: set[tuple[str, int]]) -> None:
        if not which:
            return
        try:
            consumer.resume([TopicPartition(t, p) for t, p in which])
        except KafkaException as exc:  # no longer assigned: nothing to resume
            log.debug("resume %s: %s", which, exc)
        self._paused -= which

    def _bound_memory(self, consumer: Consumer) -> None:
        merger, cap = self.merger, self.max_buffered
        full = {tp for tp in merger.buffered_by_input() if tp not in self._paused
                and merger.buffered_in(*tp) >= cap}
        if full:
            consumer.pause([TopicPartition(t, p) for t, p in full])
            self._paused |= full
            self.pauses += len(full)
            log.info("%s: merge buffers full, paused %s", self.app, sorted(full))
        self._resume(consumer, {tp for tp in self._paused if merger.buffered_in(*tp) <= cap // 2})

    def merge(self, messages: list[Message], now: float, caught_up: bool,
              consumer: Consumer | None = None) -> list[Message]:
        """Buffer a consumed batch and return what the event-time merge releases now, in order
        (pausing and resuming inputs of ``consumer`` to bound the buffers, when given)."""
        merger = self.merger
        start = 0
        # Stretches of records between error events (end of partition, mostly), buffered per
        # topic-partition with C-level map/zip/groupby: the merge sits on every record's path.
        for index in compress(range(len(messages)), map(is_not, map(_ERROR, messages), repeat(None))):
            self._buffer_stretch(messages[start:index])
            start = index + 1
            msg = messages[index]
            err = msg.error()
            assert err is not None
            if err.code() == KafkaError._PARTITION_EOF:
                merger.mark_end(msg.topic() or "", msg.partition() or 0)
                continue
            fatal = fatal_consumer_error(err)
            if fatal is not None:
                raise FatalConsumerError(fatal)
            log.warning("consumer error (the client retries): %s", err)
        self._buffer_stretch(messages[start:] if start else messages)
        released: list[Message] = []
        merger.drain_into(released, now, caught_up)
        if consumer is not None:
            self._bound_memory(consumer)
        self._export()
        return released

    def _buffer_stretch(self, records: list[Message]) -> None:
        """Buffer error-free records, consecutive ones of one topic-partition at a time."""
        if not records:
            return
        entries = zip(map(_SECOND, map(_TIMESTAMP, records)), map(_OFFSET, records), records, strict=True)
        where = zip(map(_TOPIC, records), map(_PARTITION, records), strict=True)
        extend = self.merger.extend
        for (name, partition), stretch in groupby(zip(where, entries, strict=True), key=_FIRST):
            extend(name, partition, list(map(_SECOND, stretch)))

    def _export(self) -> None:
        """Counter deltas since the last call (the merger keeps totals; Prometheus wants increments)."""
        merger = self.merger
        for totals, seen, counter in ((merger.late, self._late, metrics.LATE_RECORDS),
                                      (merger.out_of_order, self._out_of_order, metrics.OUT_OF_ORDER)):
            for name, total in totals.items():
                delta = total - seen.get(name, 0)
                if delta:
                    counter.labels(self.app, name).inc(delta)
                    seen[name] = total
                    if counter is metrics.LATE_RECORDS:
                        log.warning("%s: %d late record(s) of %s processed out of event-time order "
                                    "(beyond the lateness bound)", self.app, delta, name)
        if merger.flushes != self._flushes:
            metrics.MERGE_FLUSHES.labels(self.app).inc(merger.flushes - self._flushes)
            self._flushes = merger.flushes
        self._buffered.set(merger.buffered())
