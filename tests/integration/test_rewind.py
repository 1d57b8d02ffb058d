"""Replay by offset rewind: reprocessing after `microexec rewind` gives byte-identical output values."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from microexec.cli import main as microexec_main
from streams.admin import AdminError, rewind_group
from streams.settings import Settings
from streams.timeutil import format_ts_ms
from tests.support.feeds import BASE_NS, quote_feed
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.processors import QuoteSummaryProcessor
from torghut_domain.runtime import TorghutRuntime

pytestmark = pytest.mark.integration
N = 1200


def _run(settings: Settings, processor: QuoteSummaryProcessor, app: str, records: int) -> None:
    stats = TorghutRuntime(processor, settings, app).run(max_records=records, idle_timeout_s=60)
    assert stats.records_in == records


def _values_by_partition(settings: Settings, topic: str) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for msg in read_all(settings, topic):
        out.setdefault(msg.partition(), []).append(msg.value())
    return out


def test_rewind_to_a_time_replays_byte_identical(fast_settings: Settings, unique: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    quotes, out, app = f"quotes-{unique}", f"out-{unique}", f"rewind-{unique}"
    create_topics(fast_settings, [(quotes, 3, False), (out, 3, False)])
    feed = quote_feed(N, ["AAPL", "MSFT", "NVDA", "AMZN"], step_ns=1_000_000)
    produce_all(fast_settings, quotes, feed, timestamps=[(BASE_NS + i * 1_000_000) // 1_000_000 for i in range(N)])
    processor = QuoteSummaryProcessor(quotes, out, stateful=False)
    _run(fast_settings, processor, app, N)
    first = _values_by_partition(fast_settings, out)

    cut = 700  # rewind to the event time of record 700: records 700.. are processed again
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", fast_settings.bootstrap_servers)
    code = microexec_main(["rewind", "--group", app, "--topic", quotes, "--to",
                           format_ts_ms((BASE_NS + cut * 1_000_000) // 1_000_000), "--wait", "30"])
    assert code == 0
    _run(fast_settings, processor, app, N - cut)
    second = _values_by_partition(fast_settings, out)
    for partition, values in first.items():
        replayed = second[partition][len(values):]
        assert replayed, f"partition {partition} replayed nothing"
        assert replayed == values[len(values) - len(replayed):]  # byte-identical tail
    assert sum(len(second[p]) - len(first[p]) for p in first) == N - cut


def test_rewind_to_earliest_with_state_reset_replays_stateful_output(fast_settings: Settings, unique: str) -> None:
    quotes, out, app = f"quotes-{unique}", f"out-{unique}", f"rewind-{unique}"
    create_topics(fast_settings, [(quotes, 2, False), (out, 2, False)])
    feed = quote_feed(500, ["AAPL", "MSFT", "NVDA"])
    produce_all(fast_settings, quotes, feed)
    processor = QuoteSummaryProcessor(quotes, out)
    _run(fast_settings, processor, app, len(feed))
    first = _values_by_partition(fast_settings, out)

    rewind_group(fast_settings, app, quotes, "earliest", wait_s=30, reset_state=True)
    _run(fast_settings, processor, app, len(feed))
    second = _values_by_partition(fast_settings, out)
    for partition, values in first.items():
        assert second[partition] == values + values


def test_rewind_refuses_while_the_group_has_members(fast_settings: Settings, unique: str) -> None:
    quotes, out, app = f"quotes-{unique}", f"out-{unique}", f"live-{unique}"
    create_topics(fast_settings, [(quotes, 1, False), (out, 1, False)])
    produce_all(fast_settings, quotes, quote_feed(10, ["AAPL"]))
    runtime = TorghutRuntime(QuoteSummaryProcessor(quotes, out), replace(fast_settings), app)
    thread = threading.Thread(target=runtime.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while runtime.stats.records_in < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(AdminError, match="active member"):
            rewind_group(fast_settings, app, quotes, "earliest")
    finally:
        runtime.stop()
        thread.join(30)
