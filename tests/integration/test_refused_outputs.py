"""A record whose outputs the broker refuses must not wedge the consumer (streams/isolation.py).

Before: every odd input's output stamped a day ahead (beyond Kafka 4's default one-hour future
bound) aborted its whole transaction; the runtime rewound, re-processed and aborted again for
ever (1,858 aborts in 118 s, nothing committed, the process alive). Now the runtime isolates
the culprits one record per transaction, dead-letters them with reason ``output_refused``, and
every other output is committed exactly once."""

from __future__ import annotations

import time

import pytest

from streams.dlq import headers_dict
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
