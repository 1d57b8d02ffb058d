"""The hot path: every record is decoded, processed, encoded and produced here.

Per record (``Processor.process``): decode, process, encode, produce; a refused record goes to the
DLQ, a processor bug too (the partition goes on). A processor with ``run_topics`` gets stretches of
one partition as runs (``RunProcessor.process_run``), split in halves when declined. Wall-clock
punctuation (``PunctuatingProcessor``) runs between batches. Metrics are aggregated per batch: a
labelled Prometheus update costs more than a passthrough record.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from operator import itemgetter

from confluent_kafka import KafkaError, Message

from streams import metrics
from streams.liveness import FatalRuntimeError, fatal_consumer_error
from streams.merging import FatalConsumerError
from streams.output import Encoded, coords
from streams.processor import InvalidRecord, RawRecord, SourceRecord
from streams.rebalancing import Rebalancing
from streams.serde import RegistryUnavailable, decode_key

log = logging.getLogger("microexec.runtime")
_LATENCY_SAMPLE_MASK = 15  # observe the latency of one record in 16
_drain = deque[str](maxlen=0).extend  # runs an iterator to its end at C speed, keeping nothing
_SECOND = itemgetter(1)  # the timestamp of Message.timestamp()'s (type, timestamp)
_MIN_RUN = 8  # shorter stretches are not worth a run's fixed cost (~30 us): record by record


class BatchProcessing(Rebalancing):
    """A consumed batch through the processor, inside the open transaction."""

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

    def _process_isolated(self, messages: list[Message]) -> None:
        """One input record per transaction (streams/isolation.py): a refused commit then names its
        record. Ends early on an abort (the consumer re-fetches from the committed offsets) or a
        stop; once isolation is over, the rest of the batch goes the usual way."""
        isolation = self._isolation
        for i, msg in enumerate(messages):
            if isolation is not self._isolation:  # over: committed past the refused transaction
                self._process_batch(messages[i:])
                return
            if self._stop.is_set():
                self._hold_unprocessed(messages[i:])
                return
            if msg.error() is not None:
                self._process_batch([msg])
                continue
            assert isolation is not None
            isolation.current = coords(msg)
            self._process_batch([msg])
            held = dict(self._unprocessed)  # a stop inside that batch held its record: keep it held
            self._hold_unprocessed(messages[i + 1:])  # the commit must not step past them
            aborts = self.stats.aborts
            try:
                self._commit()
            finally:
                self._unprocessed = held
            if self.stats.aborts != aborts:
                return

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
                encoded = [self._output.encode(emit, default_ts) for emit in punctuate(now_wall_ns, partition, state)]
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
            self.stats.records_out += self._output.produce_encoded(encoded, counts_out)
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
        # Columns by C-level maps, not a Python loop per record: the run path's own overhead is
        # what a run saves over the per-record path, and these columns also serve the checks and
        # the bookkeeping below.
        topics: list[str] = list(map(Message.topic, chunk))  # type: ignore[arg-type]
        offsets: list[int] = list(map(Message.offset, chunk))  # type: ignore[arg-type]
        keys = list(map(Message.key, chunk))
        values = list(map(Message.value, chunk))
        try:  # what the per-record path would refuse (oversize, a key that is not UTF-8) is not for a run
            if max(map(len, filter(None, values)), default=0) > self.settings.max_record_bytes:
                return False
            _drain(map(bytes.decode, filter(None, keys)))  # strict UTF-8, as decode_key
        except UnicodeDecodeError:
            return False
        started = time.perf_counter()
        state.begin_record()  # one savepoint for the whole run
        try:
            by_columns = self._run_columns
            if by_columns is not None:  # ColumnRunProcessor: no RawRecord per record
                result = by_columns(partition, topics, offsets, values, state)
            else:
                records = list(map(RawRecord, topics, offsets, map(_SECOND, map(Message.timestamp, chunk)), keys,
                                   values))
                result = self.processor.process_run(partition, records, state)  # type: ignore[attr-defined]
            # The input's timestamp, for an emit without one (read only for the records that emit).
            encoded = None if result is None else [
                self._output.encode(emit, chunk[index].timestamp()[1]) for index, emit in result]
        except RegistryUnavailable:
            raise
        except Exception as exc:  # the per-record path gives each record its exact outcome
            log.debug("run of %d records on partition %d declined: %s", len(chunk), partition, exc)
            encoded = None
        if encoded is None:
            state.rollback_record()
            return False
        self._output.produce_encoded(encoded, counts_out)
        n = len(chunk)
        if topics.count(topics[0]) == n:  # one topic, the usual run
            self._next_offsets[(topics[0], partition)] = offsets[-1] + 1
            counts_in[topics[0]] = counts_in.get(topics[0], 0) + n
        else:  # offsets grow within a topic-partition: the last one of each topic is its newest
            for name, offset in dict(zip(topics, offsets, strict=True)).items():
                self._next_offsets[(name, partition)] = offset + 1
                counts_in[name] = counts_in.get(name, 0) + topics.count(name)
        self.stats.records_in += n
        self.stats.records_out += len(encoded)
        self.stats.run_records += n
        metrics.RUN_RECORDS.labels(self.app, "taken").inc(n)
        samples.append((time.perf_counter() - started) / n)
        return True

    def _process_records(self, messages: list[Message], counts_in: dict[str, int], counts_out: dict[str, int],
                         samples: list[float]) -> None:
        """Record by record: the path every processor has (``Processor.process``)."""
        process = self.processor.process
        max_bytes = self.settings.max_record_bytes
        decoders, states, next_offsets = self._decoders, self._states, self._next_offsets
        encode = self._output.encode
        perf = time.perf_counter
        records_in = self.stats.records_in
        new_record = tuple.__new__  # a NamedTuple's own __new__ is a Python frame: 2.5x the cost
        poison = None if self._isolation is None else self._isolation.poison  # streams/isolation.py
        pending: list[Encoded] = []  # produced after the loop, in order, within the same transaction
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
                fatal = fatal_consumer_error(err)
                if fatal is not None:
                    raise FatalRuntimeError(fatal)
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
                if poison and (name, partition, offset) in poison:
                    reason = poison[name, partition, offset]
                    raise InvalidRecord("output_refused", f"the broker refused its outputs: {reason}")
                raw_key = msg.key()
                key = None if raw_key is None else decode_key(raw_key)
                decoded = decoders[name].decode(value)
                record = new_record(SourceRecord, (name, partition, offset, timestamp_ms, key, decoded))
                # Encode everything before producing anything: a record either has all its outputs or none.
                encoded = [encode(emit, timestamp_ms) for emit in process(record, state)]
            except InvalidRecord as exc:
                state.rollback_record()
                self.stats.records_in = records_in
                self._output.dead_letter(msg, exc.reason, exc.detail)
                continue
            except RegistryUnavailable:
                raise  # an outage, not bad input: stop without committing, the restart resumes here
            except Exception as exc:  # a processor bug must not stop the partition or lose the record
                state.rollback_record()
                self.stats.records_in = records_in
                log.exception("processor %s failed on %s[%d]@%d", self.processor.name, name, partition, offset)
                self._output.dead_letter(msg, "processor_error", f"{type(exc).__name__}: {exc}")
                continue
            pending.extend(encoded)
            if sampled:
                samples.append(perf() - started)
        self.stats.records_in = records_in
        self.stats.records_out += self._output.produce_encoded(pending, counts_out)

