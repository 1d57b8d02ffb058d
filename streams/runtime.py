"""The exactly-once consume-transform-produce runtime: client set-up and the poll loop.

One transactional producer per instance (``transactional.id = <app>-<instance>``) and a consumer in
the group ``<app>`` with static membership (``group.instance.id``), so a restarted instance takes its
partitions back without a rebalance and its first ``init_transactions`` fences and aborts whatever
the killed incarnation left open. Per transaction: the outputs, the DLQ records, the changelog of
every state key touched, and the input offsets (``send_offsets_to_transaction``) commit together
or not at all. No wait is unbounded (streams/liveness.py, docs/liveness.md): every broker call of
the commit, abort, init and restore paths has a wall-clock budget, a watchdog honours SIGTERM while
the loop is blocked, and /healthz and /readyz report the loop's progress and the restored partitions.

Where the rest lives (each layer builds on the one before, streams/runtime_state.py):
- streams/clients.py: the three Kafka clients and their settings;
- streams/output.py: encoding, producing, the DLQ;
- streams/checkpointing.py: commit, abort and rewind of the transaction;
- streams/rebalancing.py: assignment, revocation, loss, and the restore of keyed state;
- streams/processing.py: the hot path (records, runs, punctuation);
- streams/merging.py and ordering.py: the event-time merge of several inputs.

Wall-clock punctuation (``streams.processor.PunctuatingProcessor``): a processor with a
``punctuate`` method is called every ``punctuate_interval_s`` of wall time for each partition whose
state this instance holds, between batches and also when no record arrives; its state writes and
outputs join the open transaction (one is begun if needed). The loop checks one float per batch,
so a processor without the method costs nothing more.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka.admin import AdminClient

from streams import metrics
from streams.admin import TopologyError, ensure_topics
from streams.clients import group_consumer, restore_consumer, transactional_producer
from streams.gc_tuning import tune_gc
from streams.isolation import AbortTracker
from streams.liveness import FatalRuntimeError, Liveness
from streams.merging import MergeFeed, merger_for
from streams.output import OutputWriter, output_encoders
from streams.processing import BatchProcessing
from streams.processor import Processor
from streams.run_stats import RunStats
from streams.serde import AvroDecoder, AvroEncoder, Registry, ValueDecoder
from streams.settings import Settings
from streams.topics import changelog_topic

__all__ = ["ExactlyOnceRuntime", "FatalRuntimeError", "RunStats", "TopologyError"]

log = logging.getLogger("microexec.runtime")


def _no_schema(topic_name: str) -> str | None:
    return None


class ExactlyOnceRuntime(BatchProcessing):
    """Runs one processor under exactly-once semantics until stopped.

    ``dlq_topic`` receives every refused record; ``schema_of`` names the Avro schema stem of an input
    topic the processor's ``input_schemas`` does not (a domain's topic catalog). A domain package
    binds both in a subclass."""

    def __init__(self, processor: Processor, settings: Settings, app_id: str, *, dlq_topic: str,
                 schema_of: Callable[[str], str | None] = _no_schema, registry: Registry | None = None,
                 consumer_overrides: Mapping[str, Any] | None = None,
                 producer_overrides: Mapping[str, Any] | None = None) -> None:
        self.processor = processor
        self.settings = settings
        self.app = app_id
        self.registry = registry
        if registry is None and settings.schema_registry_url:
            self.registry = Registry(settings.schema_registry_url)
        self.stats = RunStats()
        self._stop = threading.Event()
        self._changelog = changelog_topic(app_id)
        input_schemas: Mapping[str, str] = getattr(processor, "input_schemas", {})
        self._decoders = {
            name: ValueDecoder(fmt, input_schemas.get(name) or schema_of(name), self.registry)
            for name, fmt in processor.input_formats.items()
        }
        encoders = output_encoders(processor.output_schemas, self.registry)
        self._changelog_encoder = AvroEncoder("changelog_state_v1", self._changelog, self.registry)
        self._changelog_decoder = AvroDecoder("changelog_state_v1", self.registry)
        # Several input topics: merge them in event time per partition number, with bounded lateness
        # (streams/ordering.py, docs/ordering.md).
        self._merger = merger_for(processor, settings)
        self._merge_feed = (None if self._merger is None
                            else MergeFeed(app_id, self._merger, settings.merge_max_buffered))
        self._run_topics = frozenset(getattr(processor, "run_topics", ()))
        self._run_columns = getattr(processor, "process_run_columns", None) if self._run_topics else None
        self._punctuate = getattr(processor, "punctuate", None)
        self._punctuate_interval_s = math.inf
        if self._punctuate is not None:
            interval = getattr(processor, "punctuate_interval_s", None)
            if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval < math.inf:
                raise ValueError(f"{processor.name}: punctuate_interval_s must be a positive number of seconds, "
                                 f"got {interval!r}")
            self._punctuate_interval_s = float(interval)
        self._states = {}
        self._next_offsets = {}
        self._committed_positions = {}
        self._in_txn = False
        self._uncommitted = 0
        self._unprocessed = {}
        self._isolation = None
        self._abort_tracker = AbortTracker()
        # Liveness (docs/liveness.md): bounded broker calls, a heartbeat, the watchdog of a main-thread run.
        self._live = Liveness(app_id, settings, self.stop)
        self.health = self._live.health

        txn_id = f"{app_id}-{settings.instance_id}"
        self.producer = transactional_producer(settings, txn_id, producer_overrides)
        self.consumer = group_consumer(settings, app_id, txn_id, partition_eof=self._merger is not None,
                                       stats_cb=self._live.on_stats, overrides=consumer_overrides)
        self._restore_consumer = restore_consumer(settings, app_id)
        self._output = OutputWriter(self.producer, app_id, encoders, dlq_topic, settings, self._live, self.stats)

    # ------------------------------------------------------------------ lifecycle
    @property
    def owned_partitions(self) -> list[int]:
        """Partition numbers this instance holds restored state for (safe to read from any thread)."""
        return sorted(self._states)

    def stop(self) -> None:
        """Ask the loop to finish: it commits what it has and returns."""
        self.health.stopping = True
        self._stop.set()

    def prepare_topics(self) -> None:
        """Check the inputs are co-partitioned and create ``<app>.changelog`` (compacted) to match.

        Keyed state of partition ``p`` is only correct if every input topic routes a key to the same
        ``p``: equal partition counts (and the same partitioner upstream) are required, and a
        mismatch is refused here rather than discovered as wrong state later.
        """
        admin = AdminClient(self.settings.kafka_common())
        metadata = admin.list_topics(timeout=15).topics
        counts = {}
        for name in self.processor.input_formats:
            if name not in metadata or metadata[name].error is not None:
                raise TopologyError(f"input topic {name!r} does not exist (run `microexec topics create`)")
            counts[name] = len(metadata[name].partitions)
        if len(set(counts.values())) > 1:
            raise TopologyError(f"input topics of {self.app} are not co-partitioned (partition counts {counts}): "
                                "keyed state needs every input to route a key to the same partition")
        ensure_topics(admin, [(self._changelog, max(counts.values()), True)], self.settings.replication_factor)

    def run(self, *, idle_timeout_s: float | None = None, max_records: int | None = None,
            on_commit: Callable[[RunStats], None] | None = None) -> RunStats:
        """Process until stopped (SIGTERM/SIGINT or ``stop()``), idle for ``idle_timeout_s``, or
        ``max_records`` consumed; always ends with a commit of what was processed."""
        self._live.start()
        try:
            return self._run(idle_timeout_s, max_records, on_commit)
        finally:
            self._live.end()

    def _run(self, idle_timeout_s: float | None, max_records: int | None,
             on_commit: Callable[[RunStats], None] | None) -> RunStats:
        metrics.serve(self.settings.metrics_port)
        self.prepare_topics()
        started = time.monotonic()
        warm_up = getattr(self.processor, "warm_up", None) if self._run_topics else None
        if warm_up is not None:
            warm_up()  # before the GC freeze, so what it loads is frozen too
        tune_gc(self.settings.gc_gen0_threshold)
        self.health.beat()
        # Fences and aborts a previous incarnation; bounded like every other transactional call.
        self._live.bounded("init_transactions", self.producer.init_transactions)
        log.info("%s: transactions initialised in %.2fs", self.app, time.monotonic() - started)
        self.consumer.subscribe(list(self.processor.input_formats), on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        interval = self.settings.commit_interval_ms / 1000.0
        batch = self.settings.batch_size
        poll_timeout = min(interval / 5.0, 0.005)
        min_interval = self.settings.commit_min_interval_ms / 1000.0
        last_commit = last_data = last_position_check = time.monotonic()
        next_punctuation = last_commit + self._punctuate_interval_s  # inf without a punctuate method
        beat = self.health.beat
        self._live.loop_started()
        try:
            while not self._stop.is_set():
                beat()
                # consume() waits until the batch is full or the timeout passes: a short timeout keeps
                # a quiet stream's latency low, a busy stream fills batches long before it.
                messages = raw = self.consumer.consume(batch, timeout=poll_timeout)
                now = time.monotonic()
                if messages:
                    last_data = now
                    if self.stats.first_record_at is None:
                        self.stats.first_record_at = now
                if self._merger is not None:
                    messages = self._merge(messages, now, caught_up=len(raw) < batch)
                if messages:
                    if self._isolation is None:
                        self._process_batch(messages)
                    else:  # after a refused transaction: find its record (streams/isolation.py)
                        self._process_isolated(messages)
                self._live.check_broker(now)  # consume() alone would wait for ever on a broker that is gone
                if now >= next_punctuation:
                    self._punctuate_partitions()
                    if self._isolation is not None and self._in_txn:
                        self._commit()  # alone, so that a refused punctuation is not blamed on a record
                    next_punctuation = time.monotonic() + self._punctuate_interval_s
                # Commit on the interval, or sooner once caught up (a short batch): a quiet stream then
                # pays one poll plus one commit per hop, a busy one keeps full batches and few commits.
                since = now - last_commit
                # Commit once caught up (a short batch) and min_interval has passed: a quiet stream pays
                # one poll plus one commit per hop, a busy one keeps full batches and commits on the
                # interval. Idle partitions still move past transaction markers, so positions are also
                # committed now and then to keep a quiet consumer's lag at zero instead of one.
                caught_up = self._uncommitted and len(raw) < batch and since >= min_interval
                position_check = not self._uncommitted and now - last_position_check >= 1.0
                if caught_up or (since >= interval and (self._uncommitted or position_check)):
                    if position_check:
                        last_position_check = now
                    self._commit()
                    last_commit = time.monotonic()
                    if on_commit:
                        on_commit(self.stats)
                if idle_timeout_s is not None and now - last_data >= idle_timeout_s:
                    break
                if max_records is not None and self.stats.records_in >= max_records:
                    break
            self._commit()
        except BaseException:
            self._live.failed = True
            raise
        finally:
            self._live.leaving()
            self.consumer.close()
            self._restore_consumer.close()
        return self.stats

