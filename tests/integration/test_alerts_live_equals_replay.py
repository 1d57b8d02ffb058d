"""Divergence and adverse-selection alerts on the real broker: Avro records of the TCA consumer's and
the advisor's contracts (through the registry) go in, the alerts consumer publishes firing and
resolved once each, and what it published live is exactly what the offline driver computes from
the same records read back from the topics (live equals replay)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consumers.alerts.processor import AlertsProcessor
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, AvroEncoder, Registry
from streams.settings import Settings
from streams.timeutil import format_ts_ns
from tests.support.invariants import alert_violations
from tests.support.kafka_io import create_topics, produce_all, read_all, run_until_committed
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
S = 1_000_000_000
T0 = 1_767_000_000 * S  # a multiple of 60 s: adverse windows start at T0
INPUTS = ("tca_divergence", "advice", "state")


@pytest.fixture
def topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in (*INPUTS, "alerts", "dlq"):
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"{key}-{unique}")
    monkeypatch.setenv("MICROEXEC_ALERT_STREAM_TIMEOUT_S", "600")  # only event-time alerts in this test
    monkeypatch.setenv("MICROEXEC_ALERT_ADVICE_TIMEOUT_S", "600")
    monkeypatch.setenv("MICROEXEC_ALERT_DIVERGENCE_WINDOW_ORDERS", "3")
    monkeypatch.setenv("MICROEXEC_ALERT_DIVERGENCE_WINDOWS", "2")
    create_topics(fast_settings, [(topic(k), 2, False) for k in (*INPUTS, "alerts")] + [(topic("dlq"), 1, False)])
    yield fast_settings


def _divergence(symbol: str, i: int, d: float | None) -> dict[str, object]:
    return {"symbol": symbol, "order_id": f"{symbol}-{i}", "side": "buy", "event_ts": format_ts_ns(T0 + i * S),
            "arrival_price": 100.0, "avg_fill_price": 100.2, "filled_qty": 10.0, "slippage_bps": 20.0,
            "shortfall_notional": 2.0, "realized_shortfall_bps": 20.0,
            "expected_shortfall_bps_p50": None if d is None else 20.0 - d, "divergence_bps": d}


def _advice(symbol: str, t_ns: int, risk: float) -> dict[str, object]:
    return {"symbol": symbol, "event_ts": format_ts_ns(t_ns), "urgency_tier": "normal",
            "max_participation_rate": 0.1, "preferred_order_type": "limit", "quote_offset_bps": 0.0,
            "adverse_selection_risk": risk}


def test_divergence_and_adverse_alerts_live_equal_replay(topics: Settings, unique: str) -> None:
    settings = topics
    registry = Registry(settings.schema_registry_url)
    tca_enc = AvroEncoder("tca_divergence_v1", topic("tca_divergence"), registry)
    adv_enc = AvroEncoder("execution_advice_v1", topic("advice"), registry)
    # NVDA: 4 windows of 3 orders, breached, breached, breached, calm -> firing after the 2nd, resolved
    # at the 4th. AAPL: calm. Nulls (no expected distribution) are skipped.
    divs: list[tuple[str, int, float | None]] = [("NVDA", i, 30.0 if i < 9 else 1.0) for i in range(12)]
    divs += [("AAPL", i, 2.0) for i in range(6)]
    divs.append(("NVDA", 12, None))
    produce_all(settings, topic("tca_divergence"), [(s, tca_enc.encode(_divergence(s, i, d))) for s, i, d in divs],
                timestamps=[(T0 + i * S) // 1_000_000 for _, i, _ in divs])
    # NVDA advice every 2 s for 3 minutes (and one at 180 s to close the third): flagged in the second only.
    advice = [("NVDA", T0 + k * 2 * S, 0.95 if 30 <= k < 60 else 0.2) for k in range(91)]
    produce_all(settings, topic("advice"), [(s, adv_enc.encode(_advice(s, t, r))) for s, t, r in advice],
                timestamps=[t // 1_000_000 for _, t, _ in advice])

    app = f"alerts-{unique}"
    runtime = TorghutRuntime(AlertsProcessor(), settings, app)
    run_until_committed(settings, runtime, app, [topic(key) for key in INPUTS])
    assert runtime.stats.dlq == 0

    decoder = AvroDecoder("execution_alert_v1", registry)
    live = [(m.key().decode(), decoder.decode(m.value())) for m in read_all(settings, topic("alerts"))]
    statuses: dict[str, list[str]] = {}
    for key, value in sorted(live, key=lambda kv: kv[1]["event_ts"]):
        statuses.setdefault(key, []).append(value["status"])
    assert statuses == {"tca_divergence_breach:NVDA": ["firing", "resolved"],
                        "adverse_selection_spike:NVDA": ["firing", "resolved"]}
    by = {(k, v["status"]): v for k, v in live}
    assert by[("tca_divergence_breach:NVDA", "firing")]["event_ts"] == format_ts_ns(T0 + 5 * S)
    assert by[("tca_divergence_breach:NVDA", "resolved")]["event_ts"] == format_ts_ns(T0 + 11 * S)
    assert by[("adverse_selection_spike:NVDA", "firing")]["event_ts"] == format_ts_ns(T0 + 120 * S)
    assert by[("adverse_selection_spike:NVDA", "firing")]["value"] == pytest.approx(30.0)  # 30 flags in 60 s
    assert by[("adverse_selection_spike:NVDA", "resolved")]["event_ts"] == format_ts_ns(T0 + 180 * S)

    # Replay: the same records, read back from the topics, through the offline driver.
    inputs = []
    for key in INPUTS:
        dec = AvroDecoder({"tca_divergence": "tca_divergence_v1", "advice": "execution_advice_v1",
                           "state": "microstructure_state_v1"}[key], registry)
        inputs += [SourceRecord(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key().decode(),
                                dec.decode(m.value())) for m in read_all(settings, topic(key))]
    replay = run_offline(AlertsProcessor(), inputs)
    assert alert_violations([v for _, v in live], [r.value for r in inputs]) == []  # as of its own event_ts
    assert sorted((e.key, str(e.value)) for e in replay.outputs) == sorted((k, str(v)) for k, v in live)
