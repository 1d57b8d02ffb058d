"""The runtime produces its outputs with positional arguments (streams/output.py: keywords cost more
than a passthrough record's Python path). The positional order is confluent-kafka's C signature,
which its docstring does not show; this pins it on a real broker: every timestamp, header set,
explicit partition and key lands where an ``Emit`` says, and the default timestamp is the input's."""

from __future__ import annotations

import pytest

from streams.partitioning import partition_for
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.processors import StampingProcessor
from torghut_domain.runtime import TorghutRuntime

pytestmark = pytest.mark.integration

_SHIFT_MS = -3_600_000  # an hour back: brokers refuse timestamps over an hour ahead by default


def test_outputs_carry_emit_timestamps_headers_and_partitions(fast_settings: Settings, unique: str) -> None:
    source, sink = f"stamp-in-{unique}", f"stamp-out-{unique}"
    create_topics(fast_settings, [(source, 3, False), (sink, 5, False)])
    produce_all(fast_settings, source, [(f"in{i}", str(i).encode()) for i in range(200)])
    inputs = {int(m.value()): m.timestamp()[1] for m in read_all(fast_settings, source)}

    stats = TorghutRuntime(StampingProcessor(source, sink, _SHIFT_MS), fast_settings, f"app-{unique}").run(
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
