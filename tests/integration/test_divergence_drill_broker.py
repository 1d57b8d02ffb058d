"""The miscalibration drill on the real broker and registry: orders executed on a market the simulator
is wrong about (a shock regime against a calm calibration) and on one it is right about go in as
Torghut quotes and trade updates plus Avro shortfall distributions; the TCA consumer and the alerts
consumer run under TorghutRuntime. The divergence breach fires for the miscalibrated symbol
within K windows, stays quiet for the calibrated one, and both consumers' outputs equal the offline
drill (the same processors under the offline driver) record for record."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from confluent_kafka import Producer

from consumers.alerts.config import AlertsConfig
from consumers.alerts.processor import AlertsProcessor
from consumers.tca.processor import TcaProcessor
from microexec.drill import DrillCase, DrillSettings, drill_case
from streams.partitioning import partition_for
from streams.serde import AvroDecoder, AvroEncoder, Registry
from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from tests.support.kafka_io import create_topics, read_all, run_until_committed
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
KEYS = ("quotes", "trade_updates", "shortfall", "state", "advice", "tca_divergence", "alerts", "dlq")
PARTITIONS = 3
MS = 1_000_000
WRONG, RIGHT = "DRILLX", "DRILLC"


@pytest.fixture
def drill_topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"drill-{key}-{unique}")
    create_topics(fast_settings, [(topic(k), PARTITIONS, False) for k in KEYS])
    yield fast_settings


def _produce(settings: Settings, cases: list[DrillCase], registry: Registry) -> int:
    """Every case's inputs, each on its symbol's partition (shortfall keyed by order id, as the
    simulation consumer writes them); returns how many."""
    encoder = AvroEncoder("shortfall_distribution_v1", topic("shortfall"), registry)
    producer = Producer({**settings.kafka_common(), "enable.idempotence": True, "linger.ms": 5})
    n = 0
    for case in cases:
        part = partition_for(case.symbol, PARTITIONS)
        for key, ts_ns, value in case.records():
            if key == "shortfall":
                producer.produce(topic(key), encoder.encode(value), str(value["order_id"]), partition=part,
                                 timestamp=ts_ns // MS)
            else:
                producer.produce(topic(key), json.dumps(value).encode(), case.symbol, partition=part,
                                 timestamp=ts_ns // MS)
            n += 1
            producer.poll(0)
    assert producer.flush(30) == 0
    return n


def _by_symbol(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (parse_ts_ns(r["event_ts"]), r.get("order_id", ""))):
        out.setdefault(row["symbol"], []).append(row)
    return out


def test_a_miscalibrated_simulator_fires_the_breach_on_the_broker_and_a_calibrated_one_stays_quiet(
        drill_topics: Settings, unique: str) -> None:
    settings = drill_topics
    # Stale-advice timers off: this drill has no advisor; only the event-time divergence rule speaks.
    alerts_cfg = replace(AlertsConfig(), advice_timeout_s=3600.0, stream_timeout_s=3600.0)
    s = replace(DrillSettings(orders=30), alerts=alerts_cfg)
    cases = [drill_case("shock", "calm", 1000, s, WRONG), drill_case("calm", "calm", 1, s, RIGHT)]
    offline = {c.symbol: c.run_offline() for c in cases}
    k_orders = s.alerts.divergence_windows * s.alerts.divergence_window_orders
    assert offline[WRONG].fired_after_orders is not None and offline[RIGHT].fired_after_orders is None

    registry = Registry(settings.schema_registry_url)
    _produce(settings, cases, registry)
    started = time.monotonic()
    for app, runtime, inputs in (
            (f"drill-tca-{unique}", TorghutRuntime(TcaProcessor(s.tca), settings, f"drill-tca-{unique}"),
             ("quotes", "trade_updates", "shortfall")),
            (f"drill-alerts-{unique}", TorghutRuntime(AlertsProcessor(s.alerts), settings, f"drill-alerts-{unique}"),
             ("tca_divergence",))):
        run_until_committed(settings, runtime, app, [topic(k) for k in inputs], timeout_s=90.0)
        assert runtime.stats.dlq == 0
    print(f"TCA + alerts consumers over the drill's inputs on the broker: {time.monotonic() - started:.1f} s")

    tca_dec = AvroDecoder("tca_divergence_v1", registry)
    divergence = _by_symbol([tca_dec.decode(m.value()) for m in read_all(settings, topic("tca_divergence"))])
    for symbol, outcome in offline.items():
        live = [r["divergence_bps"] for r in divergence[symbol] if r["divergence_bps"] is not None]
        assert live == pytest.approx(outcome.divergences, abs=1e-9), symbol  # live equals the offline drill
        assert len(live) == s.orders

    alert_dec = AvroDecoder("execution_alert_v1", registry)
    alerts = [alert_dec.decode(m.value()) for m in read_all(settings, topic("alerts"))]
    breach = [a for a in alerts if a["alert_type"] == "tca_divergence_breach"]
    firing = [a for a in breach if a["status"] == "firing"]
    assert [a["symbol"] for a in firing] == [WRONG]  # the calibrated symbol never fired
    fired_ns = parse_ts_ns(firing[0]["event_ts"])
    orders_to_fire = sum(1 for r in divergence[WRONG]
                         if r["divergence_bps"] is not None and parse_ts_ns(r["event_ts"]) <= fired_ns)
    print(f"breach fired after {orders_to_fire} orders (K windows = {k_orders} orders); offline "
          f"{offline[WRONG].fired_after_orders}; mean |divergence| {offline[WRONG].mean_abs_divergence_bps:.1f} bps "
          f"(miscalibrated) vs {offline[RIGHT].mean_abs_divergence_bps:.1f} bps (calibrated)")
    assert orders_to_fire == offline[WRONG].fired_after_orders
    assert orders_to_fire <= k_orders
