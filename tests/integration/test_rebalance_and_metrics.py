"""Scale-out: a second instance joining mid-stream takes half the partitions (commit on revoke),
and the committed output is still exactly once; the Prometheus endpoint reports what happened."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from dataclasses import replace

import pytest

from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, Registry, decode_json
from streams.settings import Settings
from tests.support.feeds import quote_feed
from tests.support.kafka_io import committed_offsets, create_topics, end_offsets, produce_all, read_all
from tests.support.processors import SUMMARY_SCHEMA, QuoteSummaryProcessor
from torghut_domain.runtime import TorghutRuntime

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_second_instance_joins_mid_stream_without_loss_or_duplicates(fast_settings: Settings, unique: str) -> None:
    quotes, out, app = f"quotes-{unique}", f"out-{unique}", f"scale-{unique}"
    create_topics(fast_settings, [(quotes, 6, False), (out, 6, False)])
    feed = quote_feed(12_000, [f"S{i:02d}" for i in range(30)], seed=5)
    port = _free_port()
    first = TorghutRuntime(QuoteSummaryProcessor(quotes, out, busy_us=150),
                               replace(fast_settings, instance_id="one", metrics_port=port), app)
    second = TorghutRuntime(QuoteSummaryProcessor(quotes, out, busy_us=150),
                                replace(fast_settings, instance_id="two"), app)
    threads = [threading.Thread(target=first.run), threading.Thread(target=second.run)]
    threads[0].start()
    produce_all(fast_settings, quotes, feed[:6000])
    deadline = time.monotonic() + 60
    while first.stats.records_in < 1000 and time.monotonic() < deadline:
        time.sleep(0.1)
    threads[1].start()  # joins while the first is mid-stream: eager rebalance, commit on revoke
    deadline = time.monotonic() + 60
    while not second.owned_partitions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert second.owned_partitions, "the second instance was never assigned partitions"
    produce_all(fast_settings, quotes, feed[6000:])  # the rest arrives while both own partitions
    ends = end_offsets(fast_settings, quotes)
    deadline = time.monotonic() + 120
    while committed_offsets(fast_settings, app, quotes) != ends and time.monotonic() < deadline:
        time.sleep(0.5)
    first.stop()
    second.stop()
    for thread in threads:
        thread.join(60)
    assert committed_offsets(fast_settings, app, quotes) == ends
    assert first.stats.records_in > 0 and second.stats.records_in > 0, "the second instance never got work"
    assert first.stats.records_in + second.stats.records_in >= len(feed)

    registry = Registry(fast_settings.schema_registry_url)
    decoder = AvroDecoder(SUMMARY_SCHEMA, registry)
    got: dict[int, list[dict[str, object]]] = {}
    for msg in read_all(fast_settings, out):
        got.setdefault(msg.partition(), []).append(decoder.decode(msg.value()))
    inputs = read_all(fast_settings, quotes)
    offline = run_offline(QuoteSummaryProcessor(quotes, out), [
        SourceRecord(quotes, m.partition(), m.offset(), m.timestamp()[1], m.key().decode(), decode_json(m.value()))
        for m in inputs])
    expected: dict[int, list[object]] = {}
    by_symbol_partition = {m.key().decode(): m.partition() for m in inputs}
    for emit in offline.outputs:
        expected.setdefault(by_symbol_partition[emit.key], []).append(emit.value)
    assert got == expected

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert f'microexec_records_in_total{{app="{app}",topic="{quotes}"}}' in body
    assert f'microexec_rebalances_total{{app="{app}",kind="revoke"}}' in body
    assert "microexec_commit_latency_seconds_bucket" in body and "microexec_processing_latency_seconds_count" in body


def test_a_second_process_with_the_same_instance_id_ends_the_first_with_a_clear_error(
        fast_settings: Settings, unique: str) -> None:
    """Two processes of one group on one host share the default instance id (the host name): the
    second fences the first, as a static group member and as a transactional producer. The first must
    exit, naming MICROEXEC_INSTANCE_ID, not stay alive fetching nothing (it did: librdkafka's fatal
    event carries code _FATAL without its fatal flag, and the runtime took it for a retriable error)."""
    quotes, out, app = f"quotes-{unique}", f"out-{unique}", f"dup-{unique}"
    create_topics(fast_settings, [(quotes, 6, False), (out, 6, False)])
    produce_all(fast_settings, quotes, quote_feed(2000, ["A", "B", "C"], seed=3))
    same = replace(fast_settings, instance_id=f"host-{unique}")
    first = TorghutRuntime(QuoteSummaryProcessor(quotes, out), same, app)
    failure: list[BaseException] = []

    def run_first() -> None:
        try:
            first.run()
        except BaseException as exc:  # the test inspects it
            failure.append(exc)

    thread = threading.Thread(target=run_first)
    thread.start()
    deadline = time.monotonic() + 60
    while first.stats.records_in < 2000 and time.monotonic() < deadline:
        time.sleep(0.1)
    second = TorghutRuntime(QuoteSummaryProcessor(quotes, out), same, app)
    second_thread = threading.Thread(target=second.run)
    started = time.monotonic()
    second_thread.start()
    thread.join(90)
    took, alive = time.monotonic() - started, thread.is_alive()
    for runtime, t in ((first, thread), (second, second_thread)):
        runtime.stop()
        t.join(60)
    assert not alive, "the fenced process kept running"
    assert failure and "MICROEXEC_INSTANCE_ID" in str(failure[0]), failure
    assert took < 60, f"the fenced process took {took:.0f} s to end"
