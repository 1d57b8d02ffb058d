"""The offline driver: runs a processor over records from files with the runtime's semantics.

Why it exists: quants replay history without a broker, and the test suite proves the Kafka runtime
and this driver produce the same outputs for the same inputs (DESIGN.md). Per-partition state,
InvalidRecord to the DLQ list, state committed after every record (there is no transaction to abort).
"""

from __future__ import annotations

from collections.abc import Iterable
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


def run_offline(processor: Processor, records: Iterable[SourceRecord]) -> OfflineResult:
    """Records of each topic in offset order; several input topics are merged in event time exactly
    as the Kafka runtime merges them (streams/ordering.py)."""
    result = OfflineResult()
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
