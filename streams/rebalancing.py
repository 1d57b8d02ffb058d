"""Partition ownership: what a rebalance does to the open transaction and to keyed state.

Partitions of the input topics are co-partitioned by key (range assignment), so the keyed state of
input partition ``p`` lives in changelog partition ``p``; it is restored from the changelog
(streams/restore.py) before any record of ``p`` is processed. A revoke commits first, so the next
owner starts exactly where this one stopped; a loss aborts, since we may already be fenced.
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, TopicPartition

from streams import metrics, restore
from streams.checkpointing import Checkpointing
from streams.deadline import Stalled
from streams.liveness import FatalRuntimeError
from streams.state import TransactionalState

log = logging.getLogger("microexec.runtime")


class Rebalancing(Checkpointing):
    """The consumer's rebalance callbacks and the restore of a partition's state."""

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.app, "assign").inc()
        self.health.assigned = self.health.assigned | {tp.partition for tp in partitions}
        log.info("%s: assigned %s", self.app, [(tp.topic, tp.partition) for tp in partitions])
        if self._merger is not None:
            for tp in partitions:
                self._merger.assign(tp.topic, tp.partition)
            if self._merge_feed is not None:
                self._merge_feed.mark_ended_at_start(consumer, partitions)
        for number in sorted({tp.partition for tp in partitions}):
            if number not in self._states:
                self._restore_partition(number)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.app, "revoke").inc()
        if not self._live.failed:  # after a fatal error (a stall) nothing may commit; the next owner redoes it
            self._commit()  # commit on revoke (bounded): the next owner starts exactly where we stop
        self._drop_states(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.app, "lost").inc()
        self._abort_and_rewind("partitions_lost", partitions)  # we may be fenced: nothing of ours may commit
        self._drop_states(partitions)

    def _drop_states(self, partitions: list[TopicPartition]) -> None:
        for number in {tp.partition for tp in partitions}:
            self._states.pop(number, None)
        self.health.restored = frozenset(self._states)
        self.health.assigned = self.health.assigned - {tp.partition for tp in partitions}
        for tp in partitions:
            self._committed_positions.pop((tp.topic, tp.partition), None)
            if self._merge_feed is not None:
                self._merge_feed.revoke(tp.topic, tp.partition)

    def _restore_partition(self, partition: int) -> TransactionalState:
        """Replay changelog partition ``partition`` (read_committed) into a fresh state (streams/restore.py)."""
        state = TransactionalState()
        self._states[partition] = state
        deadline = self._live.budget()  # restore waits on the broker: bounded, and restarted by progress
        try:
            low, high = restore.watermarks(self._restore_consumer, self._changelog, partition, deadline,
                                           self._live.bounded)
            self.health.beat()
            restored = 0 if high <= low else restore.replay(
                self._restore_consumer, self._changelog, partition, state, self._changelog_decoder, deadline,
                self.health.beat)
        except (restore.ChangelogMissing, Stalled) as exc:
            self._live.failed = True
            raise FatalRuntimeError(str(exc)) from exc
        self.health.restored = self.health.restored | {partition}
        metrics.RESTORED.labels(self.app).inc(restored)
        log.info("restored %d changelog records into partition %d of %s", restored, partition, self.app)
        return state
