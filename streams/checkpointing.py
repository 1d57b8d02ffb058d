"""Transactions: what one commit carries, and how an aborted one is undone.

Per transaction the outputs, the DLQ records, the changelog of every state key touched and the
input offsets (``send_offsets_to_transaction``) commit together or not at all. Error handling
follows librdkafka's transactional API: abortable errors abort the transaction, rewind the consumer
to the committed offsets and drop the state written since; fatal ones end the process, whose
supervisor restarts it. Every broker call here has a wall-clock budget (streams/liveness.py).
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from streams import metrics
from streams.isolation import Isolation, IsolationStuck, refusal_reason
from streams.liveness import SAME_INSTANCE_HINT, FatalRuntimeError
from streams.runtime_state import RuntimeState
from streams.state import canonical_json

log = logging.getLogger("microexec.runtime")


class Checkpointing(RuntimeState):
    """Commit and abort of the runtime's one open transaction."""

    def _hold_unprocessed(self, messages: list[Message]) -> None:
        """Remember the first offset of each topic-partition among ``messages`` (fetched, not
        processed): the commit must not step past it, although the consumer's position has."""
        for msg in messages:
            if msg.error() is None:
                key = (msg.topic() or "", msg.partition() or 0)
                self._unprocessed.setdefault(key, msg.offset() or 0)

    def _offsets_to_commit(self) -> list[TopicPartition]:
        """Consumer positions of every assigned partition that moved since the last commit.

        Positions, not "last processed offset + 1": with read_committed the position also steps
        over transaction markers, so a consumer of a transactional topic ends at the high
        watermark rather than one short of it. Every record before a position has been processed:
        commits only happen between batches.
        """
        assignment = self.consumer.assignment()
        moved = {}
        for tp in self.consumer.position(assignment) if assignment else []:
            if tp.offset >= 0:
                moved[(tp.topic, tp.partition)] = tp.offset
        for key, offset in self._next_offsets.items():
            moved[key] = max(moved.get(key, -1), offset)
        if self._merger is not None:  # fetched but held back by the merge: not processed yet
            for (t, p) in list(moved):
                first = self._merger.first_buffered_offset(t, p)
                if first is not None:
                    moved[(t, p)] = first
        for key, first in self._unprocessed.items():  # a batch cut short by a stop
            if key in moved:
                moved[key] = min(moved[key], first)
        return [TopicPartition(t, p, o) for (t, p), o in moved.items() if self._committed_positions.get((t, p)) != o]

    def _commit(self) -> None:
        """Changelog + offsets + commit, atomically; on an abortable error, abort and rewind."""
        offsets = self._offsets_to_commit()
        if not self._in_txn:
            if not offsets:
                return
            self.producer.begin_transaction()
            self._in_txn = True
        started = time.perf_counter()
        deadline = self._live.budget()  # one budget for offsets + commit (and the abort if it fails)
        try:
            for partition, state in self._states.items():
                for key, value in state.dirty():
                    payload = None if value is None else self._changelog_encoder.encode({
                        "app_id": self.app, "state_key": key, "state_json": canonical_json(value),
                        "source_topic": None, "source_partition": partition, "source_offset": None})
                    self._output.produce(self._changelog, payload, key.encode("utf-8"), None, None, partition)
            if offsets:
                group = self.consumer.consumer_group_metadata()
                send = self.producer.send_offsets_to_transaction
                self._live.bounded("send_offsets_to_transaction", lambda timeout: send(offsets, group, timeout),
                                   deadline)
            self._live.bounded("commit_transaction", self.producer.commit_transaction, deadline)
        except KafkaException as exc:
            err = exc.args[0]
            if err.txn_requires_abort():
                self._isolate_on_abort(refusal_reason(err), offsets)
                self._abort_and_rewind(err.name())
                return
            hint = f"; {SAME_INSTANCE_HINT}" if err.code() == KafkaError._FENCED else ""
            raise FatalRuntimeError(f"transaction commit failed fatally: {err}{hint}") from exc
        for state in self._states.values():
            state.commit()
        self._committed_positions.update(((tp.topic, tp.partition), tp.offset) for tp in offsets)
        self._abort_tracker.committed()
        if self._isolation is not None and self._isolation.committed(self._committed_positions, set(self._states)):
            log.warning("%s: isolation over, committed past the refused transaction (%d record(s) dead-lettered)",
                        self.app, len(self._isolation.poison))
            self._isolation = None
        self._next_offsets.clear()
        self._in_txn = False
        self._uncommitted = 0
        self.stats.commits += 1
        self.stats.last_commit_at = time.monotonic()
        metrics.COMMIT_LATENCY.labels(self.app).observe(time.perf_counter() - started)

    def _isolate_on_abort(self, reason: str, offsets: list[TopicPartition]) -> None:
        """Start, or go on with, finding the record whose outputs the broker refuses (streams/isolation.py)."""
        if self._isolation is None:
            if self._abort_tracker.aborted(reason):
                log.warning("%s: transaction aborted (%s): isolating, one input record per transaction, until "
                            "past the offsets it covered", self.app, reason)
                self._isolation = Isolation({(tp.topic, tp.partition): tp.offset for tp in offsets})
            return
        try:
            culprit = self._isolation.refused(reason)
        except IsolationStuck as exc:
            self._live.failed = True
            raise FatalRuntimeError(f"{self.app}: {exc}; exiting for the supervisor") from exc
        if culprit is not None:
            log.warning("%s: the broker refused the outputs of %s[%d]@%d (%s): it goes to the DLQ on its next "
                        "delivery", self.app, *culprit, reason)

    def _abort_and_rewind(self, reason: str, lost: list[TopicPartition] | None = None) -> None:
        """Drop the open transaction and everything derived from it; resume from committed offsets
        (except on ``lost`` partitions, which are no longer ours to seek)."""
        log.warning("aborting transaction (%s) and rewinding to committed offsets", reason)
        self.stats.aborts += 1
        metrics.ABORTS.labels(self.app, reason).inc()
        deadline = self._live.budget()
        if self._in_txn:
            try:
                self._live.bounded("abort_transaction", self.producer.abort_transaction, deadline)
            except KafkaException as exc:
                self._live.failed = True
                raise FatalRuntimeError(f"abort_transaction failed: {exc}") from exc
        for state in self._states.values():
            state.abort()
        self._next_offsets.clear()
        self._in_txn = False
        self._uncommitted = 0
        self._committed_positions.clear()
        if self._merge_feed is not None:
            self._merge_feed.clear(self.consumer)
        gone = {(tp.topic, tp.partition) for tp in lost or []}
        assignment = [tp for tp in self.consumer.assignment() if (tp.topic, tp.partition) not in gone]
        if assignment:
            for tp in self._live.bounded("committed offsets", lambda timeout: self.consumer.committed(
                    assignment, timeout=timeout), deadline):
                if tp.offset < 0:
                    tp.offset = OFFSET_BEGINNING
                try:
                    self.consumer.seek(tp)
                except KafkaException as exc:  # not fetching yet: the committed offset applies anyway
                    log.warning("seek %s[%d] to %d failed: %s", tp.topic, tp.partition, tp.offset, exc)

