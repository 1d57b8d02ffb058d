"""SIGTERM/stop() is honoured between records, not only between batches: a processor that takes
long per record (the simulation consumer's Monte Carlo) stops within about one record's time, and
what it did not process is picked up by the next run: nothing lost, nothing twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

import pytest

from streams.processor import FORMAT_RAW, Emit, KeyValueState, SourceRecord
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all, read_all
from torghut_domain.runtime import TorghutRuntime

pytestmark = pytest.mark.integration
PER_RECORD_S = 0.2


class Slow:
    name = "slow"

    def __init__(self, source: str, sink: str) -> None:
        self.input_formats: Mapping[str, str] = {source: FORMAT_RAW}
        self.output_schemas: Mapping[str, str | None] = {sink: None}
        self.sink = sink

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        time.sleep(PER_RECORD_S)
        return (Emit(self.sink, record.key or "", record.value),)


def test_stop_ends_a_slow_batch_promptly_and_the_rest_is_processed_once(fast_settings: Settings,
                                                                          unique: str) -> None:
    source, sink = f"slow-in-{unique}", f"slow-out-{unique}"
    create_topics(fast_settings, [(source, 1, False), (sink, 1, False)])
    n = 60  # one batch would take 12 s
    produce_all(fast_settings, source, [("k", str(i).encode()) for i in range(n)])
    app = f"slow-{unique}"
    first = TorghutRuntime(Slow(source, sink), fast_settings, app)
    threading.Timer(2.5, first.stop).start()
    started = time.monotonic()
    stats = first.run(idle_timeout_s=60)
    took = time.monotonic() - started
    assert 0 < stats.records_in < n
    assert took < 2.5 + 10 * PER_RECORD_S + 5, f"stop took {took:.1f} s"
    rest = TorghutRuntime(Slow(source, sink), fast_settings, app).run(idle_timeout_s=5,
                                                                          max_records=n - stats.records_in)
    assert stats.records_in + rest.records_in == n
    assert [m.value().decode() for m in read_all(fast_settings, sink)] == [str(i) for i in range(n)]
