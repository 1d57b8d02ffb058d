"""A record whose outputs the broker refuses must not wedge the consumer (streams/isolation.py).

Before: every odd input's output stamped a day ahead (beyond Kafka 4's default one-hour future
bound) aborted its whole transaction; the runtime rewound, re-processed and aborted again for
ever (1,858 aborts in 118 s, nothing committed, the process alive). Now the runtime isolates
the culprits one record per transaction, dead-letters them with reason ``output_refused``, and
every other output is committed exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

from streams.dlq import headers_dict
from streams.processor import FORMAT_RAW, Emit, KeyValueState, SourceRecord
from streams.settings import Settings
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.processors import StampingProcessor
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration

_DAY_MS = 86_400_000


def test_refused_outputs_go_to_the_dlq_and_the_rest_commits_once(fast_settings: Settings, unique: str) -> None:
    source, sink = f"refused-in-{unique}", f"refused-out-{unique}"
    create_topics(fast_settings, [(source, 3, False), (sink, 3, False)])
    n = 60
    produce_all(fast_settings, source, [(f"in{i}", str(i).encode()) for i in range(n)])

    runtime = TorghutRuntime(StampingProcessor(source, sink, _DAY_MS), fast_settings, f"app-{unique}")
    started = time.monotonic()
    stats = runtime.run(idle_timeout_s=10)  # returns only once nothing new arrives: no livelock
    took = time.monotonic() - started
    print(f"recovered in {took:.1f} s: {stats.aborts} aborts, {stats.commits} commits, {stats.dlq} dead-lettered")

    out = sorted(int(m.value()) for m in read_all(fast_settings, sink))
    assert out == list(range(0, n, 2))  # every accepted output, each once
    app = f"app-{unique}"
    dlq = [m for m in read_all(fast_settings, topic("dlq")) if headers_dict(m.headers()).get("dlq.app") == app]
    assert sorted(int(m.value()) for m in dlq) == list(range(1, n, 2))  # every refused input, each once
    assert {headers_dict(m.headers())["dlq.reason"] for m in dlq} == {"output_refused"}
    assert runtime._isolation is None  # back to whole batches per transaction
    assert took < 60


class _OneHuge:
    """Echoes its raw input, except input 3, whose output is 2 MB (over the 900,000-byte default)."""

    name = "one-huge"

    def __init__(self, source: str, sink: str) -> None:
        self.input_formats = {source: FORMAT_RAW}
        self.output_schemas: dict[str, str | None] = {sink: None}
        self.sink = sink

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        yield Emit(self.sink, "k", b"y" * 2_000_000 if record.value == b"3" else record.value)


def test_an_output_over_the_size_bound_dead_letters_its_input(fast_settings: Settings, unique: str) -> None:
    """Before: librdkafka refused the 2 MB record inside produce() and the runtime raised, at every
    restart again, on the same input: the partition never moved."""
    source, sink = f"huge-in-{unique}", f"huge-out-{unique}"
    create_topics(fast_settings, [(source, 1, False), (sink, 1, False)])
    produce_all(fast_settings, source, [(f"in{i}", str(i).encode()) for i in range(10)])
    stats = TorghutRuntime(_OneHuge(source, sink), fast_settings, f"app-{unique}").run(idle_timeout_s=5)
    assert stats.dlq == 1
    assert [m.value() for m in read_all(fast_settings, sink)] == [str(i).encode() for i in range(10) if i != 3]
    app = f"app-{unique}"
    dlq = [m for m in read_all(fast_settings, topic("dlq")) if headers_dict(m.headers()).get("dlq.app") == app]
    assert [(m.value(), headers_dict(m.headers())["dlq.reason"]) for m in dlq] == [(b"3", "output_too_large")]


def test_an_input_too_large_for_the_producer_is_dead_lettered_truncated(fast_settings: Settings,
                                                                        unique: str) -> None:
    """A 1.5 MB input (its topic allows it) is over the 900,000-byte record bound and goes to the DLQ,
    but whole it is over the producer's 1,000,000 too: before, copying it raised out of the loop."""
    source, sink = f"wide-in-{unique}", f"wide-out-{unique}"
    create_topics(fast_settings, [(source, 1, False)], {"max.message.bytes": "3000000"})
    create_topics(fast_settings, [(sink, 1, False)])
    wide = b"w" * 1_500_000
    produce_all(fast_settings, source, [("a", b"1"), ("b", wide), ("c", b"2")])
    stats = TorghutRuntime(_OneHuge(source, sink), fast_settings, f"app-{unique}").run(idle_timeout_s=5)
    assert stats.dlq == 1 and stats.dlq_reasons == {"oversize_record": 1}
    assert [m.value() for m in read_all(fast_settings, sink)] == [b"1", b"2"]
    app = f"app-{unique}"
    dlq = [m for m in read_all(fast_settings, topic("dlq")) if headers_dict(m.headers()).get("dlq.app") == app]
    assert len(dlq) == 1
    value, headers = dlq[0].value(), headers_dict(dlq[0].headers())
    assert 0 < len(value) < len(wide) and wide.startswith(value)
    assert f"of {len(wide)} bytes" in headers["dlq.detail"] and headers["dlq.source.offset"] == "1"
