"""The stale-advice alert end to end on the real broker and registry: quotes flow through the state
and advisor consumers into the alerts consumer; the advisor is stopped and both forms of the alert
fire (per symbol in event time, per partition on the wall clock); the advisor comes back under
the same app id and both resolve. No alert while everything runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from consumers.advisor.processor import AdvisorProcessor
from consumers.alerts.processor import AlertsProcessor
from consumers.state.processor import StateProcessor
from producers.torghut_envelopes import quote_envelope
from streams.partitioning import partition_for
from streams.processor import Processor
from streams.serde import AvroDecoder, Registry
from streams.settings import Settings
from tests.support.kafka_io import create_topics, end_offsets
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "shortfall", "tca_divergence", "alerts")
PARTITIONS = 2
# One symbol per partition, so each partition's whole-stream alert has advice to lose and regain.
SYMBOLS = [next(f"S{i}" for i in range(100) if partition_for(f"S{i}", PARTITIONS) == p) for p in range(PARTITIONS)]


@pytest.fixture
def topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in (*KEYS, "dlq"):
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"{key}-{unique}")
    monkeypatch.setenv("EXECUTION_ADVISOR_ENABLED", "true")
    monkeypatch.setenv("MICROEXEC_ALERT_ADVICE_TIMEOUT_S", "3")
    monkeypatch.setenv("MICROEXEC_ALERT_STREAM_TIMEOUT_S", "4")
    monkeypatch.setenv("MICROEXEC_ALERT_PUNCTUATE_INTERVAL_S", "0.25")
    create_topics(fast_settings, [(topic(k), PARTITIONS, k in ("state", "advice")) for k in KEYS])
    create_topics(fast_settings, [(topic("dlq"), 1, False)])
    yield fast_settings


class Feed(threading.Thread):
    """Quotes stamped with the wall clock (event time = now), sizes moving so every quote is a
    material change for the state consumer: the market keeps going while the advisor is away."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Producer

        self.producer = Producer({**settings.kafka_common(), "linger.ms": 5, "partitioner": "murmur2_random"})
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            now = time.time_ns()
            for i, symbol in enumerate(SYMBOLS):
                size = 100.0 * (1 + n % 7)
                quote = quote_envelope(symbol, now, 100.0 + i, size, 100.02 + i, 800.0 - size, seq=n)
                self.producer.produce(topic("quotes"), json.dumps(quote).encode(), symbol, timestamp=now // 1_000_000)
            self.producer.poll(0)
            n += 1
            time.sleep(0.1)
        self.producer.flush(10)


class Running:
    """A runtime in a thread, stopped and joined on exit."""

    def __init__(self, processor: Processor, settings: Settings, app: str) -> None:
        self.runtime = TorghutRuntime(processor, settings, app)
        self.thread = threading.Thread(target=self.runtime.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.runtime.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), f"{self.runtime.app} did not stop"


class Alerts:
    """Everything committed to the alerts topic so far, read as it arrives."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = Consumer({**settings.kafka_common(), "group.id": "alerts-test-reader",
                                  "enable.auto.commit": False, "isolation.level": "read_committed"})
        self.consumer.assign([TopicPartition(topic("alerts"), p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        self.decoder = AvroDecoder("execution_alert_v1", Registry(settings.schema_registry_url))
        self.seen: list[dict[str, Any]] = []

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.1)
            if msg is None:
                continue
            err, value = msg.error(), msg.value()
            if err is not None:
                assert err.code() == KafkaError._PARTITION_EOF, err
            elif value is not None:
                self.seen.append(self.decoder.decode(value))

    def wait_for(self, what: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            assert time.monotonic() < deadline, f"no {what} within {timeout:.0f}s; alerts: {self.seen}"
            self.poll(0.2)

    def statuses(self, key: str) -> list[str]:
        return [a["status"] for a in self.seen if a["alert_key"] == key]


def test_stale_advice_fires_when_the_advisor_stops_and_resolves_when_it_is_back(topics: Settings,
                                                                                unique: str) -> None:
    settings = topics
    started = time.monotonic()
    feed = Feed(settings)
    feed.start()
    state = Running(StateProcessor(), settings, f"state-{unique}")
    advisor = Running(AdvisorProcessor(), settings, f"advisor-{unique}")
    alerts_rt: Running | None = None
    reader = Alerts(settings)
    symbol_keys = [f"advice_stream_stale:{s}" for s in SYMBOLS]
    stream_keys = [f"advice_stream_stale:*:p{p}" for p in range(PARTITIONS)]
    try:
        deadline = time.monotonic() + 60
        while not all(end_offsets(settings, topic("advice")).values()):  # advice on every partition
            assert time.monotonic() < deadline, "the advisor produced no advice on some partition"
            time.sleep(0.2)
        alerts_rt = Running(AlertsProcessor(), settings, f"alerts-{unique}")
        while alerts_rt.runtime.stats.punctuations < 4:  # it runs and has caught up with the backlog
            assert time.monotonic() < deadline, "the alerts consumer did not start"
            time.sleep(0.1)
        reader.poll(5.0)  # longer than both timeouts, with everything running
        assert reader.seen == [], "no alert may fire while state and advice flow"

        advisor.stop()
        reader.wait_for("firing for every symbol and partition", lambda seen: all(
            reader.statuses(k) == ["firing"] for k in symbol_keys + stream_keys), timeout=20)
        reader.poll(1.0)
        assert all(reader.statuses(k) == ["firing"] for k in symbol_keys + stream_keys), "no repeat while firing"

        advisor = Running(AdvisorProcessor(), settings, f"advisor-{unique}")  # same app id: it resumes
        reader.wait_for("resolved for every symbol and partition", lambda seen: all(
            reader.statuses(k) == ["firing", "resolved"] for k in symbol_keys + stream_keys), timeout=30)
    finally:
        feed.halt.set()
        for running in (alerts_rt, advisor, state):
            if running is not None:
                running.stop()
        reader.consumer.close()
    by_key = {a["alert_key"]: a for a in reader.seen if a["status"] == "firing"}
    for key in symbol_keys:
        assert by_key[key]["value"] > 3 and by_key[key]["severity"] == "critical" and by_key[key]["symbol"]
    for key in stream_keys:
        assert by_key[key]["value"] > 4 and by_key[key]["symbol"] is None
    assert alerts_rt is not None and alerts_rt.runtime.stats.dlq == 0
    assert time.monotonic() - started < 90
