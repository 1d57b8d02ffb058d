"""The offline driver: runs a processor over records from files with the runtime's semantics.

Why it exists: quants replay history without a broker, and the test suite proves the Kafka runtime
and this driver produce the same outputs for the same inputs (DESIGN.md). Per-partition state,
InvalidRecord to the DLQ list, state committed after every record (there is no transaction to abort).

Wall-clock punctuation (``PunctuatingProcessor``) has no clock here: ``punctuate_offline`` calls it
at a wall time the caller gives, and ``run_offline(..., into=result)`` continues a run, so a test
interleaves records and timer ticks in any order it wants without a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streams.ordering import merge_in_event_time
from streams.partitioning import partition_for
from streams.processor import Emit, InvalidRecord, Processor, SourceRecord
from streams.state import TransactionalState


@dataclass
class OfflineResult:
    outputs: list[Emit] = field(default_factory=list)
    dlq: list[tuple[SourceRecord, str]] = field(default_factory=list)
    states: dict[int, TransactionalState] = field(default_factory=dict)


def run_offline(processor: Processor, records: Iterable[SourceRecord],
                into: OfflineResult | None = None) -> OfflineResult:
    """Records of each topic in offset order; several input topics are merged in event time exactly
    as the Kafka runtime merges them (streams/ordering.py). ``into`` continues an earlier result
    (its states and outputs) instead of starting from empty state."""
    result = OfflineResult() if into is None else into
    topics = list(processor.input_formats)
    if len(topics) > 1:
        records = merge_in_event_time(topics, ((r.topic, r.partition, r.timestamp_ms, r.offset, r) for r in records))
    for record in records:
        state = result.states.setdefault(record.partition, TransactionalState())
        try:
            emitted = list(processor.process(record, state))
        except InvalidRecord as exc:
            state.abort()
            result.dlq.append((record, exc.reason))
            continue
        except Exception:  # as the runtime does: a processor bug dead-letters the record
            state.abort()
            result.dlq.append((record, "processor_error"))
            continue
        state.commit()
        result.outputs.extend(emitted)
    return result


def punctuate_offline(processor: Processor, result: OfflineResult, now_wall_ns: int,
                      partitions: Sequence[int] = ()) -> list[Emit]:
    """One punctuation round at wall time ``now_wall_ns``, as the runtime's timer runs it: every
    partition with state in ``result`` plus ``partitions`` (partitions that never had a record,
    which the runtime would own all the same), in partition order. A call that raises is rolled
    back, as the runtime does, and the exception propagates (a test should see it). Outputs with no
    timestamp get ``now_wall_ns``'s; they are appended to ``result.outputs`` and returned."""
    punctuate = getattr(processor, "punctuate", None)
    if punctuate is None:
        raise TypeError(f"{processor.name} has no punctuate method")
    emitted: list[Emit] = []
    for partition in sorted(set(result.states) | set(partitions)):
        state = result.states.setdefault(partition, TransactionalState())
        try:
            out = list(punctuate(now_wall_ns, partition, state))
        except Exception:
            state.abort()
            raise
        state.commit()
        emitted += [e if e.timestamp_ms is not None else e._replace(timestamp_ms=now_wall_ns // 1_000_000)
                    for e in out]
    result.outputs.extend(emitted)
    return emitted


def as_inputs(emits: Iterable[Emit], partitions: int = 1) -> list[SourceRecord]:
    """One stage's outputs as the next stage's inputs, placed as a Kafka producer would place them
    (``partition_key`` or ``key`` through murmur2 over ``partitions``), offsets counted per
    topic-partition: a chain of processors offline sees what the same chain sees on a broker."""
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for emit in emits:
        partition = partition_for(emit.partition_key or emit.key, partitions)
        offset = offsets.get((emit.topic, partition), 0)
        offsets[(emit.topic, partition)] = offset + 1
        records.append(SourceRecord(emit.topic, partition, offset, emit.timestamp_ms or 0, emit.key, emit.value))
    return records
