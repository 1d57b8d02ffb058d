"""The runtime produces its outputs with positional arguments (streams/output.py: keywords cost more
than a passthrough record's Python path). The positional order is confluent-kafka's C signature,
which its docstring does not show; this pins it on a real broker: every timestamp, header set,
explicit partition and key lands where an ``Emit`` says, and the default timestamp is the input's."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from streams.partitioning import partition_for
from streams.processor import FORMAT_RAW, Emit, KeyValueState, SourceRecord
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all, read_all
from torghut_domain.runtime import TorghutRuntime

pytestmark = pytest.mark.integration

_SHIFT_MS = -3_600_000  # outputs of odd inputs are stamped an hour before their input (brokers refuse
# timestamps more than log.message.timestamp.after.max.ms, an hour by default, in the future)


class _Stamper:
    """Per input ``i``: a record stamped an hour earlier, with headers, placed beside ``partition_key``
    (odd i), or a bare record keeping the input's timestamp (even i)."""

    name = "stamper"

    def __init__(self, source: str, sink: str) -> None:
        self.input_formats = {source: FORMAT_RAW}
        self.output_schemas: dict[str, str | None] = {sink: None}
        self.sink = sink

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        i = int(record.value or b"0")
        if i % 2:
            yield Emit(self.sink, f"k{i}", record.value, record.timestamp_ms + _SHIFT_MS,
                       (("i", str(i).encode()), ("kind", b"odd")), partition_key=f"place-{i}")
        else:
            yield Emit(self.sink, f"k{i}", record.value)


def test_outputs_carry_emit_timestamps_headers_and_partitions(fast_settings: Settings, unique: str) -> None:
    source, sink = f"stamp-in-{unique}", f"stamp-out-{unique}"
    create_topics(fast_settings, [(source, 3, False), (sink, 5, False)])
    produce_all(fast_settings, source, [(f"in{i}", str(i).encode()) for i in range(200)])
    inputs = {int(m.value()): m.timestamp()[1] for m in read_all(fast_settings, source)}

    stats = TorghutRuntime(_Stamper(source, sink), fast_settings, f"app-{unique}").run(
        max_records=200, idle_timeout_s=60)
    assert stats.records_in == 200 and stats.dlq == 0

    out = read_all(fast_settings, sink)
    assert sorted(int(m.value()) for m in out) == list(range(200))
    for m in out:
        i = int(m.value())
        assert m.key() == f"k{i}".encode()
        if i % 2:
            assert m.timestamp()[1] == inputs[i] + _SHIFT_MS
            assert m.headers() == [("i", str(i).encode()), ("kind", b"odd")]
            assert m.partition() == partition_for(f"place-{i}", 5)
        else:
            assert m.timestamp()[1] == inputs[i]
            assert not m.headers()
            assert m.partition() == partition_for(f"k{i}", 5)  # the producer's murmur2 partitioner
