"""The exactly-once consume-transform-produce runtime.

One transactional producer per instance (``transactional.id = <app>-<instance>``) and a consumer in
the group ``<app>`` with static membership (``group.instance.id``), so a restarted instance takes its
partitions back without a rebalance and its first ``init_transactions`` fences and aborts whatever
the killed incarnation left open. Per transaction: the outputs, the DLQ records, the changelog of
every state key touched, and the input offsets (``send_offsets_to_transaction``) commit together
or not at all. Error handling follows librdkafka's transactional API: retriable errors are retried,
abortable ones abort the transaction, rewind the consumer to the committed offsets and drop the
state written since; fatal ones (fencing) end the process, whose supervisor restarts it. No wait
is unbounded (streams/liveness.py, docs/liveness.md): every broker call of the commit, abort, init
and restore paths has a wall-clock budget, a watchdog honours SIGTERM while the loop is blocked,
and /healthz and /readyz report the loop's progress and the restored partitions.

Partitions of the input topics are co-partitioned by key (range assignment), so the keyed state of
input partition ``p`` lives in changelog partition ``p``; it is restored from the changelog before
any record of ``p`` is processed.

Wall-clock punctuation (``streams.processor.PunctuatingProcessor``): a processor with a
``punctuate`` method is called every ``punctuate_interval_s`` of wall time for each partition whose
state this instance holds, between batches and also when no record arrives; its state writes and
outputs join the open transaction (one is begun if needed). The loop checks one float per batch,
so a processor without the method costs nothing more.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams import metrics, restore
from streams.admin import ensure_topics
from streams.deadline import Stalled
from streams.dlq import dlq_headers
from streams.liveness import FatalRuntimeError, Liveness
from streams.merging import FatalConsumerError, MergeFeed, merger_for
from streams.ordering import EventTimeMerger
from streams.partitioning import partition_for
from streams.processor import Emit, InvalidRecord, Processor, RawRecord, SourceRecord
from streams.serde import AvroDecoder, AvroEncoder, Registry, RegistryUnavailable, ValueDecoder, decode_key
from streams.settings import Settings
from streams.state import TransactionalState, canonical_json
from streams.topics import changelog_topic

log = logging.getLogger("microexec.runtime")
T = TypeVar("T")
_LATENCY_SAMPLE_MASK = 15  # observe the latency of one record in 16
_MIN_RUN = 8  # shorter stretches are not worth a run's fixed cost (~30 us): record by record
# topic, key, value, ts, headers, partition (-1: the producer's partitioner decides)
_Encoded = tuple[str, bytes, bytes | None, int, tuple[tuple[str, bytes], ...], int]


class TopologyError(RuntimeError):
    """The topics don't fit the processor (missing, or inputs not co-partitioned): fix the deployment."""


@dataclass
class RunStats:
    records_in: int = 0
    records_out: int = 0
    dlq: int = 0
    commits: int = 0
    aborts: int = 0
    dlq_reasons: dict[str, int] = field(default_factory=dict)
    run_records: int = 0  # records taken by a processor's run path (RunProcessor)
    runs_declined: int = 0  # run attempts declined or failed (then split, or redone record by record)
    punctuations: int = 0  # wall-clock punctuation rounds (PunctuatingProcessor)
    first_record_at: float | None = None  # time.monotonic() of the first record, for throughput figures
    last_commit_at: float | None = None


_gc_frozen = False


def _tune_gc(gen0_threshold: int) -> None:
    """Make the cyclic GC cheap for a consumer's allocation pattern (0: leave it alone).

    Why: a consumer allocates and drops millions of small objects (records, tuples, decoded
    structs) while holding a large, permanent heap (numba, numpy, scipy, the processor's state).
    With the default thresholds the collector ran every 700 allocations and every tenth run walked
    the whole heap: measured on the state consumer, 54-60k -> 74-79k quotes/s with a generation-0
    threshold of 50,000 and the start-up objects frozen out of the collector's scans (the
    passthrough's throughput did not change). Freezing happens once per process.
    """
    global _gc_frozen
    if gen0_threshold <= 0:
        return
    if not _gc_frozen:
        gc.collect()
        gc.freeze()
        _gc_frozen = True
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def _coords(msg: Message) -> tuple[str, int, int]:
    """Topic, partition, offset of a consumed (non-error) message; the client types them optional."""
    name, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert name is not None and partition is not None and offset is not None
    return name, partition, offset


def _no_schema(topic_name: str) -> str | None:
    return None


class ExactlyOnceRuntime:
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
        self._dlq_topic = dlq_topic
        self._changelog = changelog_topic(app_id)
        input_schemas: Mapping[str, str] = getattr(processor, "input_schemas", {})
        self._decoders = {
            name: ValueDecoder(fmt, input_schemas.get(name) or schema_of(name), self.registry)
            for name, fmt in processor.input_formats.items()
        }
        self._encoders: dict[str, AvroEncoder | None] = {
            name: AvroEncoder(stem, name, self.registry) if stem else None
            for name, stem in processor.output_schemas.items()
        }
        self._changelog_encoder = AvroEncoder("changelog_state_v1", self._changelog, self.registry)
        self._changelog_decoder = AvroDecoder("changelog_state_v1", self.registry)
        # Several input topics: merge them in event time per partition number, with bounded lateness
        # (streams/ordering.py, docs/ordering.md).
        self._merger: EventTimeMerger[Message] | None = merger_for(processor, settings)
        self._merge_feed = (None if self._merger is None
                            else MergeFeed(app_id, self._merger, settings.merge_max_buffered))
        self._run_topics: frozenset[str] = frozenset(getattr(processor, "run_topics", ()))
        self._punctuate: Callable[[int, int, TransactionalState], Iterable[Emit]] | None = getattr(
            processor, "punctuate", None)
        self._punctuate_interval_s = math.inf
        if self._punctuate is not None:
            interval = getattr(processor, "punctuate_interval_s", None)
            if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval < math.inf:
                raise ValueError(f"{processor.name}: punctuate_interval_s must be a positive number of seconds, "
                                 f"got {interval!r}")
            self._punctuate_interval_s = float(interval)
        self._states: dict[int, TransactionalState] = {}
        self._next_offsets: dict[tuple[str, int], int] = {}
        self._committed_positions: dict[tuple[str, int], int] = {}
        self._in_txn = False
        self._uncommitted = 0
        self._partition_counts: dict[str, int] = {}
        self._unprocessed: dict[tuple[str, int], int] = {}  # first unprocessed offset of a stopped batch
        # Liveness (docs/liveness.md): bounded broker calls, a heartbeat, the watchdog of a main-thread run.
        self._live = Liveness(app_id, settings, self.stop)
        self.health = self._live.health

        common = settings.kafka_common()
        txn_id = f"{app_id}-{settings.instance_id}"
        self.producer = Producer({
            **common,
            "transactional.id": txn_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 1,  # commit flushes anyway; a long linger only delays the records of a quiet stream
            "compression.type": "lz4",
            "partitioner": "murmur2_random",  # same partitions as Java clients for the same key
            "transaction.timeout.ms": 60_000,
            **(producer_overrides or {}),
        })
        self.consumer = Consumer({
            **common,
            "group.id": app_id,
            "group.instance.id": txn_id,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",  # co-partitioned inputs land together
            "session.timeout.ms": settings.session_timeout_ms,
            # A fetch returns as soon as data is there; this bounds the wait when it is not, which is
            # what a read_committed consumer sees between an upstream's transaction commits.
            "fetch.wait.max.ms": 20,
            "statistics.interval.ms": 5_000,
            "enable.partition.eof": self._merger is not None,  # an ended input must not hold back the merge
            "stats_cb": self._live.on_stats,
            **(consumer_overrides or {}),
        })
        self._restore_consumer = Consumer({
            **common,
            "group.id": f"{app_id}.restore",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 10,  # restore is a bounded read to the end: don't linger at EOF
        })

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
        _tune_gc(self.settings.gc_gen0_threshold)
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
                    self._process_batch(messages)
                self._live.check_broker(now)  # consume() alone would wait for ever on a broker that is gone
                if now >= next_punctuation:
                    self._punctuate_partitions()
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

    # ------------------------------------------------------------------ processing
    def _merge(self, messages: list[Message], now: float, caught_up: bool) -> list[Message]:
        """Buffer a consumed batch and return what the event-time merge releases now (streams/merging.py)."""
        assert self._merge_feed is not None
        try:
            return self._merge_feed.merge(messages, now, caught_up, self.consumer)
        except FatalConsumerError as exc:
            raise FatalRuntimeError(str(exc)) from exc

    def _process_batch(self, messages: list[Message]) -> None:
        """The hot path. Per record: decode, process, encode, produce; metrics are aggregated per
        batch (a labelled Prometheus update costs more than a passthrough record) and the latency
        histogram samples one record in ``_LATENCY_SAMPLE``. A processor with ``run_topics`` gets
        stretches of one partition of those topics as runs (``_process_run``)."""
        counts_in: dict[str, int] = {}
        counts_out: dict[str, int] = {}
        samples: list[float] = []
        if not self._in_txn:
            self.producer.begin_transaction()
            self._in_txn = True
        if not self._run_topics:
            self._process_records(messages, counts_in, counts_out, samples)
        else:
            for run, chunk in self._runs(messages):
                if run:
                    self._process_run(chunk, counts_in, counts_out, samples)
                else:
                    self._process_records(chunk, counts_in, counts_out, samples)
        self._uncommitted += sum(counts_in.values())
        for name, count in counts_in.items():
            metrics.RECORDS_IN.labels(self.app, name).inc(count)
        for name, count in counts_out.items():
            metrics.RECORDS_OUT.labels(self.app, name).inc(count)
        if samples:
            latency = metrics.PROCESSING_LATENCY.labels(self.app)
            for sample in samples:
                latency.observe(sample)

    def _punctuate_partitions(self) -> None:
        """One wall-clock punctuation round: ``processor.punctuate`` for every partition whose state
        we hold, in partition order. Outputs and state writes go into the open transaction (begun
        here only if the round wrote or emitted something), so they commit with the changelog of
        the state that says they were sent. A failing call is rolled back and logged; the next
        round tries again (there is no record to dead-letter)."""
        punctuate = self._punctuate
        assert punctuate is not None
        now_wall_ns = time.time_ns()
        default_ts = now_wall_ns // 1_000_000
        counts_out: dict[str, int] = {}
        ok = 0
        for partition in sorted(self._states):
            state = self._states[partition]
            state.begin_record()
            try:
                encoded = [self._encode(emit, default_ts) for emit in punctuate(now_wall_ns, partition, state)]
            except RegistryUnavailable:
                raise
            except Exception:
                state.rollback_record()
                log.exception("punctuate of %s failed on partition %d", self.processor.name, partition)
                metrics.PUNCTUATIONS.labels(self.app, "error").inc()
                continue
            ok += 1
            if not encoded and next(state.dirty(), None) is None:
                continue
            if not self._in_txn:
                self.producer.begin_transaction()
                self._in_txn = True
            self.stats.records_out += self._produce_encoded(encoded, counts_out)
            self._uncommitted += 1  # commit soon, even with no input offsets to send
        self.stats.punctuations += 1
        if ok:
            metrics.PUNCTUATIONS.labels(self.app, "ok").inc(ok)
        for name, count in counts_out.items():
            metrics.RECORDS_OUT.labels(self.app, name).inc(count)

    def _runs(self, messages: list[Message]) -> Iterator[tuple[bool, list[Message]]]:
        """Cut a batch into (is_run, records): runs are stretches of at least ``_MIN_RUN`` error-free
        records of one partition number, all of run topics; everything else goes record by record."""
        run_topics = self._run_topics
        n = len(messages)
        i = loose = 0
        while i < n:
            msg = messages[i]
            if msg.topic() not in run_topics or msg.error() is not None:
                i += 1
                continue
            partition = msg.partition()
            j = i + 1
            while j < n:
                other = messages[j]
                if other.partition() != partition or other.topic() not in run_topics or other.error() is not None:
                    break
                j += 1
            if j - i >= _MIN_RUN:
                if loose < i:
                    yield False, messages[loose:i]
                yield True, messages[i:j]
                loose = j
            i = j
        if loose < n:
            yield False, messages[loose:]

    def _process_run(self, chunk: list[Message], counts_in: dict[str, int], counts_out: dict[str, int],
                     samples: list[float]) -> None:
        """One run through ``processor.process_run``. A declined or failed run is rolled back and
        split in halves, each tried as a run again, down to stretches shorter than twice
        ``_MIN_RUN``, which go record by record: one bad record then costs a few retried halves,
        not its whole run, and every record's outcome is still the per-record path's (by
        construction: any split of a run into consecutive pieces processes the same sequence)."""
        if self._try_run(chunk, counts_in, counts_out, samples):
            return
        self.stats.runs_declined += 1
        if len(chunk) >= 2 * _MIN_RUN:
            half = len(chunk) // 2
            self._process_run(chunk[:half], counts_in, counts_out, samples)
            self._process_run(chunk[half:], counts_in, counts_out, samples)
        else:
            metrics.RUN_RECORDS.labels(self.app, "record_by_record").inc(len(chunk))
            self._process_records(chunk, counts_in, counts_out, samples)

    def _try_run(self, chunk: list[Message], counts_in: dict[str, int], counts_out: dict[str, int],
                 samples: list[float]) -> bool:
        """Process ``chunk`` as a run and produce its outputs; False (state untouched) if declined."""
        partition: int = chunk[0].partition()  # type: ignore[assignment]
        state = self._states.get(partition)
        if state is None:  # assigned without restore (should not happen): restore now
            state = self._restore_partition(partition)
        max_bytes = self.settings.max_record_bytes
        records = [RawRecord(m.topic(), m.offset(), m.timestamp()[1], m.key(), m.value())  # type: ignore[arg-type]
                   for m in chunk]
        try:  # what the per-record path would refuse (oversize, a key that is not UTF-8) is not for a run
            if any(r.value is not None and len(r.value) > max_bytes for r in records):
                return False
            for r in records:
                if r.key is not None:
                    r.key.decode("utf-8")
        except UnicodeDecodeError:
            return False
        started = time.perf_counter()
        state.begin_record()  # one savepoint for the whole run
        try:
            result = self.processor.process_run(partition, records, state)  # type: ignore[attr-defined]
            encoded = None if result is None else [
                self._encode(emit, records[index].timestamp_ms) for index, emit in result]
        except RegistryUnavailable:
            raise
        except Exception as exc:  # the per-record path gives each record its exact outcome
            log.debug("run of %d records on partition %d declined: %s", len(chunk), partition, exc)
            encoded = None
        if encoded is None:
            state.rollback_record()
            return False
        self._produce_encoded(encoded, counts_out)
        for record in records:
            self._next_offsets[(record.topic, partition)] = record.offset + 1
            counts_in[record.topic] = counts_in.get(record.topic, 0) + 1
        self.stats.records_in += len(chunk)
        self.stats.records_out += len(encoded)
        self.stats.run_records += len(chunk)
        metrics.RUN_RECORDS.labels(self.app, "taken").inc(len(chunk))
        samples.append((time.perf_counter() - started) / len(chunk))
        return True

    def _process_records(self, messages: list[Message], counts_in: dict[str, int], counts_out: dict[str, int],
                         samples: list[float]) -> None:
        """Record by record: the path every processor has (``Processor.process``)."""
        process = self.processor.process
        max_bytes = self.settings.max_record_bytes
        decoders, states, next_offsets = self._decoders, self._states, self._next_offsets
        encode = self._encode
        perf = time.perf_counter
        records_in = self.stats.records_in
        pending: list[_Encoded] = []  # produced after the loop, in order, within the same transaction
        stop = self._stop
        for i, msg in enumerate(messages):
            if stop.is_set():
                # A stop (SIGTERM) ends the batch here: a slow processor (a Monte Carlo per record)
                # must not hold the process for a whole batch. Records not processed stay out of
                # the offsets this transaction commits, so the next run starts with them.
                self._hold_unprocessed(messages[i:])
                break
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise FatalRuntimeError(f"consumer error: {err}")
                log.warning("consumer error (the client retries): %s", err)
                continue
            sampled = (records_in & _LATENCY_SAMPLE_MASK) == 0
            started = perf() if sampled else 0.0
            records_in += 1
            name: str = msg.topic()  # type: ignore[assignment]
            partition: int = msg.partition()  # type: ignore[assignment]
            offset: int = msg.offset()  # type: ignore[assignment]
            next_offsets[(name, partition)] = offset + 1
            counts_in[name] = counts_in.get(name, 0) + 1
            timestamp_ms = msg.timestamp()[1]
            state = states.get(partition)
            if state is None:  # assigned without restore (should not happen): restore now
                state = self._restore_partition(partition)
            value = msg.value()
            state.begin_record()
            try:
                if value is not None and len(value) > max_bytes:
                    raise InvalidRecord("oversize_record", f"{len(value)} bytes > {max_bytes}")
                raw_key = msg.key()
                key = None if raw_key is None else decode_key(raw_key)
                record = SourceRecord(name, partition, offset, timestamp_ms, key, decoders[name].decode(value))
                # Encode everything before producing anything: a record either has all its outputs or none.
                encoded = [encode(emit, timestamp_ms) for emit in process(record, state)]
            except InvalidRecord as exc:
                state.rollback_record()
                self.stats.records_in = records_in
                self._dead_letter(msg, exc.reason, exc.detail)
                continue
            except RegistryUnavailable:
                raise  # an outage, not bad input: stop without committing, the restart resumes here
            except Exception as exc:  # a processor bug must not stop the partition or lose the record
                state.rollback_record()
                self.stats.records_in = records_in
                log.exception("processor %s failed on %s[%d]@%d", self.processor.name, name, partition, offset)
                self._dead_letter(msg, "processor_error", f"{type(exc).__name__}: {exc}")
                continue
            pending.extend(encoded)
            if sampled:
                samples.append(perf() - started)
        self.stats.records_in = records_in
        self.stats.records_out += self._produce_encoded(pending, counts_out)

    def _produce_encoded(self, encoded: list[_Encoded], counts_out: dict[str, int]) -> int:
        """Produce outputs in order (all of a batch at once: one tight loop, no call per record)."""
        produce = self.producer.produce
        full_since = 0.0
        for out_topic, out_key, payload, ts, headers, partition in encoded:
            while True:
                try:
                    if partition >= 0:
                        produce(out_topic, payload, out_key, timestamp=ts, headers=list(headers), partition=partition)
                    elif headers:
                        produce(out_topic, payload, out_key, timestamp=ts, headers=list(headers))
                    else:
                        produce(out_topic, payload, out_key, timestamp=ts)
                    break
                except BufferError:  # local queue full: serve delivery reports and try again
                    full_since = self._queue_full(full_since)
            counts_out[out_topic] = counts_out.get(out_topic, 0) + 1
        return len(encoded)

    def _encode(self, emit: Emit, default_ts: int) -> _Encoded:
        out_topic, key, value, ts, headers, partition_key = emit
        if ts is None:
            ts = default_ts
        partition = -1 if partition_key is None else partition_for(partition_key, self._partition_count(out_topic))
        try:
            encoder = self._encoders[out_topic]
        except KeyError:
            raise RuntimeError(f"processor emitted to {out_topic!r}, not in its output_schemas") from None
        if value is None or isinstance(value, bytes):
            return out_topic, key.encode("utf-8"), value, ts, headers, partition
        if encoder is None:
            raise RuntimeError(f"{out_topic} is a raw topic but the processor emitted a record")
        try:
            payload = encoder.encode(value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidRecord("output_schema_violation", f"{out_topic}: {exc}") from exc
        return out_topic, key.encode("utf-8"), payload, ts, headers, partition

    def _partition_count(self, out_topic: str) -> int:
        """Partitions of an output topic, read once (a topic's partition count only grows, and
        growing it re-routes keys for every producer alike)."""
        count = self._partition_counts.get(out_topic)
        if count is None:
            metadata = self.producer.list_topics(out_topic, timeout=15).topics.get(out_topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise TopologyError(f"output topic {out_topic!r} does not exist (run `microexec topics create`)")
            count = self._partition_counts[out_topic] = len(metadata.partitions)
        return count

    def _produce(self, out_topic: str, value: bytes | None, key: bytes | None, timestamp_ms: int | None,
                 headers: list[tuple[str, bytes]] | None = None, partition: int | None = None) -> None:
        kwargs: dict[str, Any] = {} if timestamp_ms is None else {"timestamp": timestamp_ms}
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        full_since = 0.0
        while True:
            try:
                self.producer.produce(out_topic, value, key, **kwargs)
                return
            except BufferError:  # local queue full: serve delivery reports and try again
                full_since = self._queue_full(full_since)

    def _queue_full(self, since: float) -> float:
        """Wait a little for the producer's queue to drain (a broker that does not take records);
        Stalled (fatal) once it has been full for the stall timeout."""
        now = time.monotonic()
        since = since or now
        if now - since > self.settings.stall_timeout_s:
            self._live.failed = True
            raise FatalRuntimeError(f"{self.app}: producer queue full for {now - since:.0f}s "
                                    "(MICROEXEC_STALL_TIMEOUT_S): the broker takes no records")
        self.producer.poll(0.05)
        self.health.beat()
        return since

    def _dead_letter(self, msg: Message, reason: str, detail: str) -> None:
        _, timestamp_ms = msg.timestamp()
        headers = dlq_headers(self.app, reason, detail, *_coords(msg), timestamp_ms)
        # The DLQ record is stamped now (the source time is in a header): an operational event must
        # not fall to time retention at once because it refused a replay of old history.
        self._produce(self._dlq_topic, msg.value(), msg.key(), None, headers)
        self.stats.dlq += 1
        self.stats.dlq_reasons[reason] = self.stats.dlq_reasons.get(reason, 0) + 1
        metrics.DLQ.labels(self.app, reason).inc()

    # ------------------------------------------------------------------ transactions
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
                    self._produce(self._changelog, payload, key.encode("utf-8"), None, None, partition)
            if offsets:
                group = self.consumer.consumer_group_metadata()
                send = self.producer.send_offsets_to_transaction
                self._live.bounded("send_offsets_to_transaction", lambda timeout: send(offsets, group, timeout),
                                   deadline)
            self._live.bounded("commit_transaction", self.producer.commit_transaction, deadline)
        except KafkaException as exc:
            err = exc.args[0]
            if err.txn_requires_abort():
                self._abort_and_rewind(err.name())
                return
            raise FatalRuntimeError(f"transaction commit failed fatally: {err}") from exc
        for state in self._states.values():
            state.commit()
        self._committed_positions.update(((tp.topic, tp.partition), tp.offset) for tp in offsets)
        self._next_offsets.clear()
        self._in_txn = False
        self._uncommitted = 0
        self.stats.commits += 1
        self.stats.last_commit_at = time.monotonic()
        metrics.COMMIT_LATENCY.labels(self.app).observe(time.perf_counter() - started)

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

    # ------------------------------------------------------------------ rebalances and restore
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.app, "assign").inc()
        self.health.assigned = self.health.assigned | {tp.partition for tp in partitions}
        log.info("%s: assigned %s", self.app, [(tp.topic, tp.partition) for tp in partitions])
        if self._merger is not None:
            for tp in partitions:
                self._merger.assign(tp.topic, tp.partition)
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
