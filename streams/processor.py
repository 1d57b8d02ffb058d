"""The contract between user logic and the runtime: a processor is a pure function of one record and
its own keyed state.

Why so narrow: the same processor object runs under the exactly-once Kafka runtime
(`streams.runtime`) and under the offline file driver (`streams.offline`), so a replay from files and
a replay by offset rewind give identical outputs. A processor therefore never sees the clock, the
consumer or the producer: only the decoded record (with its coordinates, for provenance), and a
state view whose writes the runtime commits atomically with the outputs and the input offsets, or
throws away on abort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

# How a topic's bytes are decoded before the processor sees them. A domain package may add its own
# formats (streams.serde.register_format), e.g. a typed fast path for its busiest topic.
FORMAT_JSON = "json"  # any JSON document -> dict (or list, number...)
FORMAT_AVRO = "avro"  # Confluent wire format via the registry, or bare Avro -> dict
FORMAT_RAW = "raw"  # bytes untouched

JsonValue = Any


class SourceRecord(NamedTuple):
    """One decoded input record with the coordinates that make outputs traceable and replayable.

    A NamedTuple rather than a frozen dataclass: it is built once per input record on the hot path,
    and tuple construction is several times cheaper.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: Any


class RawRecord(NamedTuple):
    """An undecoded input record of a run (see ``RunProcessor``): its coordinates and bytes."""

    topic: str
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


class Emit(NamedTuple):
    """An output record. ``value`` is a dict for Avro topics, bytes for raw ones, None for a tombstone.

    ``timestamp_ms`` should be event time, so that downstream rewinds by time land where a quant
    expects; None means "the timestamp of the input record".
    """

    topic: str
    key: str
    value: Mapping[str, Any] | bytes | None
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    # Place the record on the partition this key would get (Kafka's murmur2) instead of ``key``'s:
    # a record keyed by order id that must sit beside its symbol's records (streams.partitioning).
    partition_key: str | None = None


class EncodedRecord(Mapping[str, Any]):
    """An output record whose Avro body (binary encoding in schema ``stem``, without the Confluent
    framing) the processor already built; its fields are built only if something reads them.

    Why: on the state consumer's run path, building a 24-field dict and encoding it field by field
    cost ~10 us per state record, most of its output cost; the processor can write the body from its
    numeric rows for a fraction of that, and the runtime only needs the bytes. Everything else (the
    tests, the offline driver) sees an ordinary read-only mapping, equal to the dict ``build``
    returns; the runtime's encoder takes ``body`` only for the same schema stem, and the processor
    that builds one must show its bodies equal the generic encoding of that dict (for the state
    consumer: tests/consumers/test_state_encoded.py).
    """

    __slots__ = ("_build", "_fields", "body", "stem")

    def __init__(self, stem: str, body: bytes, build: Callable[[], dict[str, Any]]) -> None:
        self.stem = stem
        self.body = body
        self._build = build
        self._fields: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The record as a plain dict (built on first use, then kept)."""
        if self._fields is None:
            self._fields = self._build()
        return self._fields

    as_dict = fields  # what streams.state.canonical_json writes for a value that is not JSON itself

    def __getitem__(self, key: str) -> Any:
        return self.fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields())

    def __len__(self) -> int:
        return len(self.fields())

    def __repr__(self) -> str:
        return f"EncodedRecord({self.stem!r}, {self.fields()!r})"


class InvalidRecord(Exception):
    """Raised by a processor for input it refuses; the runtime sends the record to the DLQ with ``reason``.

    ``reason`` is a short stable slug (``crossed_quote``, ``non_positive_price``...) used as the DLQ
    header and as the ``reason`` label of the DLQ metric.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class KeyValueState(Protocol):
    """The processor's keyed state for the partition being processed (JSON-serialisable dicts)."""

    def get(self, key: str) -> dict[str, JsonValue] | None: ...

    def put(self, key: str, value: dict[str, JsonValue]) -> None: ...

    def delete(self, key: str) -> None: ...

    def live_keys(self) -> list[str]: ...


class Processor(Protocol):
    """User logic. ``input_formats`` maps each input topic to one of the FORMAT_* constants
    (or a format a domain package registered with ``streams.serde.register_format``);
    ``output_schemas`` maps each output topic to its Avro schema stem in ``schemas/`` (None: raw bytes).

    Optional, for the event-time merge of several inputs (docs/ordering.md): ``sparse_inputs``, the
    input topics that are sparse or optional (they never drive the merge's clock and are waited for
    only up to their lateness bound), and ``sparse_lateness_ms``, this processor's default bound for
    them (MICROEXEC_SPARSE_LATENESS_MS overrides it).
    """

    # Read-only properties, so a plain class attribute of type dict satisfies the protocol.
    @property
    def name(self) -> str: ...

    @property
    def input_formats(self) -> Mapping[str, str]: ...

    @property
    def output_schemas(self) -> Mapping[str, str | None]: ...

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]: ...


class PunctuatingProcessor(Processor, Protocol):
    """A processor that is also called on a wall-clock timer (Kafka Streams' wall-clock punctuation).

    Why an explicit, separate entry point: ``process`` decides on event time only, so it cannot
    notice that *nothing* arrives (a stopped upstream sends no records to time out on). The runtime
    calls ``punctuate`` every ``punctuate_interval_s`` seconds of wall time for each partition it
    owns, also when no record arrives at all, inside the same transaction as everything else: state
    writes are changelogged and outputs produced exactly once (committed with the state that says
    they were sent, or aborted with it). ``now_wall_ns`` is the one non-replayable input of the
    pipeline: a replay by offset rewind reproduces every ``process`` output but not these, so a
    processor should keep what punctuation compares against (e.g. the wall time it last saw a
    record) in state and decide only by differences of ``now_wall_ns`` values. Emits without a
    timestamp are stamped ``now_wall_ns``. The offline driver drives it with a given clock
    (``streams.offline.punctuate_offline``). Processors without the method pay nothing.
    """

    @property
    def punctuate_interval_s(self) -> float: ...

    def punctuate(self, now_wall_ns: int, partition: int, state: KeyValueState) -> Iterable[Emit]: ...


class RunProcessor(Processor, Protocol):
    """A processor that can also take a *run*: consecutive records of one partition number whose
    topics are all in ``run_topics``, undecoded, in the order ``process`` would see them (offset
    order per topic, the event-time merge across topics).

    Why: per-record Python calls dominate a stateful consumer's cost on a busy topic; a run lets the
    processor decode and fold many records in one compiled step. The contract keeps the per-record
    semantics exact: ``process_run`` returns ``(index in the run, Emit)`` pairs in order, equal to
    what ``process`` would return record by record, or None to decline the run. The runtime rolls
    back whatever the run wrote to state if it declines or raises, and then processes the same
    records one by one with ``process`` (so refusals keep their per-record DLQ reasons).
    """

    @property
    def run_topics(self) -> frozenset[str]: ...

    def warm_up(self) -> None:
        """Called by the runtime before consuming: prepare what the first run would otherwise wait
        for (compiling its loop, for instance)."""

    def process_run(self, partition: int, records: Sequence[RawRecord],
                    state: KeyValueState) -> list[tuple[int, Emit]] | None: ...


class ColumnRunProcessor(RunProcessor, Protocol):
    """A run processor that also takes a run as columns (the runtime prefers this when present).

    Why: building a ``RawRecord`` per record and reading its fields back cost ~0.3 us a record on
    the state consumer's path, a tenth of what the whole run costs; the runtime has the columns
    already (it checks sizes and keys on them). ``process_run_columns(partition, topics, offsets,
    values, state)`` must return what ``process_run`` returns for the same records (keys and Kafka
    timestamps are what the columns leave out: a processor that needs them implements only
    ``process_run``).
    """

    def process_run_columns(self, partition: int, topics: Sequence[str], offsets: Sequence[int],
                            values: Sequence[bytes | None], state: KeyValueState) -> list[tuple[int, Emit]] | None: ...
