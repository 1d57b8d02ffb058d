"""The alerts Processor through the offline driver (no broker): each alert fires after the right
number of windows or records and not before, never repeats while firing, resolves, takes its
thresholds from configuration, and the whole-stream staleness runs on an injected wall clock."""

from __future__ import annotations

from typing import Any

import pytest
from fastavro.validation import validate
from prometheus_client import REGISTRY

from consumers.alerts.config import AlertsConfig
from consumers.alerts.processor import AlertsProcessor
from streams.offline import OfflineResult, punctuate_offline, run_offline
from streams.processor import Emit, SourceRecord
from streams.schemas import parsed_schema
from streams.timeutil import format_ts_ns, parse_ts_ns
from torghut_domain.topics import topic

S = 1_000_000_000
T0 = 1_767_000_000 * S
WALL0 = 1_800_000_000 * S


def divergence(d: float | None, t_ns: int, symbol: str = "NVDA") -> dict[str, Any]:
    return {"schema_version": "tca_divergence_v1", "symbol": symbol, "order_id": f"o{t_ns}", "side": "buy",
            "event_ts": format_ts_ns(t_ns), "arrival_price": 100.0, "avg_fill_price": 100.1, "filled_qty": 10.0,
            "slippage_bps": 10.0, "shortfall_notional": 1.0, "realized_shortfall_bps": 10.0,
            "expected_shortfall_bps_p50": None if d is None else 10.0 - d, "divergence_bps": d}


def advice(t_ns: int, risk: float = 0.2, participation: float = 0.1, symbol: str = "NVDA") -> dict[str, Any]:
    return {"schema_version": "execution_advice_v1", "symbol": symbol, "event_ts": format_ts_ns(t_ns),
            "urgency_tier": "normal", "max_participation_rate": participation, "preferred_order_type": "limit",
            "quote_offset_bps": 0.0, "adverse_selection_risk": risk}


def state(t_ns: int, symbol: str = "NVDA") -> dict[str, Any]:
    return {"schema_version": "microstructure_state_v1", "symbol": symbol, "event_ts": format_ts_ns(t_ns),
            "spread_bps": 2.0, "depth_top5_usd": 1e6, "order_flow_imbalance": 0.0, "latency_ms_estimate": 5.0,
            "fill_hazard": 0.5, "liquidity_regime": "normal"}


def records(items: list[tuple[str, dict[str, Any]]], partition: int = 0) -> list[SourceRecord]:
    """Kafka time = the record's event time, as the producers stamp them; offsets per topic."""
    offsets: dict[str, int] = {}
    out = []
    for key, value in items:
        name = topic(key)
        offset = offsets[name] = offsets.get(name, -1) + 1
        ts = value["event_ts"]
        t_ms = parse_ts_ns(ts) // 1_000_000 if isinstance(ts, str) and ts.startswith("20") else 0
        out.append(SourceRecord(name, partition, offset, t_ms, value["symbol"], value))
    return out


def alerts(result: OfflineResult | list[Emit]) -> list[dict[str, Any]]:
    outputs = result.outputs if isinstance(result, OfflineResult) else result
    values = [e.value for e in outputs]
    schema = parsed_schema("execution_alert_v1")
    for e, v in zip(outputs, values, strict=True):
        assert isinstance(v, dict) and validate(v, schema)
        assert e.key == v["alert_key"] and e.topic == topic("alerts")
    return values  # type: ignore[return-value]


def run(items: list[tuple[str, dict[str, Any]]], cfg: AlertsConfig | None = None,
        processor: AlertsProcessor | None = None) -> OfflineResult:
    result = run_offline(processor or AlertsProcessor(cfg or AlertsConfig()), records(items))
    assert not result.dlq, result.dlq
    return result


def run_in_arrival_order(items: list[tuple[str, dict[str, Any]]], cfg: AlertsConfig) -> OfflineResult:
    """Each record on its own, in list order: what the runtime does live when a record arrives
    after others with later timestamps were already applied (an advisor working off its backlog)."""
    proc, result = AlertsProcessor(cfg), OfflineResult()
    for item in items:
        run_offline(proc, records([item]), into=result)
    assert not result.dlq, result.dlq
    return result


def firing_gauge(alert_type: str, key: str) -> float | None:
    return REGISTRY.get_sample_value("execution_alert_firing", {"alert_type": alert_type, "alert_key": key})


# -- divergence ---------------------------------------------------------------------------------
def test_divergence_fires_after_k_consecutive_windows_not_before_and_never_repeats() -> None:
    cfg = AlertsConfig(divergence_window_orders=4, divergence_windows=3, divergence_threshold_bps=12.0)
    items = [("tca_divergence", divergence(13.0 if i % 2 else -13.5, T0 + i * S)) for i in range(4 * 3 - 1)]
    assert alerts(run(items, cfg)) == [], "two windows and three quarters of a third: not yet"
    items.append(("tca_divergence", divergence(14.0, T0 + 11 * S)))
    fired = alerts(run(items, cfg))
    assert [(a["status"], a["alert_key"], a["consecutive_windows"]) for a in fired] == [
        ("firing", "tca_divergence_breach:NVDA", 3)]
    assert fired[0]["value"] == pytest.approx((13.5 + 13.0 + 13.5 + 14.0) / 4)  # the third window's |d|
    assert fired[0]["threshold"] == 12.0 and fired[0]["severity"] == "warning"
    assert fired[0]["event_ts"] == format_ts_ns(T0 + 11 * S)
    # Three more breached windows: still firing, no repeat.
    items += [("tca_divergence", divergence(20.0, T0 + (12 + i) * S)) for i in range(12)]
    assert [a["status"] for a in alerts(run(items, cfg))] == ["firing"]
    # One window at or under the threshold resolves it.
    items += [("tca_divergence", divergence(-12.0 if i == 0 else 1.0, T0 + (24 + i) * S)) for i in range(4)]
    out = alerts(run(items, cfg))
    assert [a["status"] for a in out] == ["firing", "resolved"]
    assert out[1]["value"] == pytest.approx((12.0 + 1.0 * 3) / 4) and out[1]["severity"] == "info"
    assert firing_gauge("tca_divergence_breach", "tca_divergence_breach:NVDA") == 0


def test_divergence_breach_run_is_broken_by_one_good_window() -> None:
    cfg = AlertsConfig(divergence_window_orders=2, divergence_windows=2)
    values = [30, 30, 1, 1, 30, 30]  # breach, good, breach: never two in a row
    items = [("tca_divergence", divergence(v, T0 + i * S)) for i, v in enumerate(values)]
    assert alerts(run(items, cfg)) == []
    items.append(("tca_divergence", divergence(25, T0 + 7 * S)))
    items.append(("tca_divergence", divergence(25, T0 + 8 * S)))
    assert [a["status"] for a in alerts(run(items, cfg))] == ["firing"]


def test_divergence_without_expected_distribution_is_skipped_and_symbols_are_separate() -> None:
    cfg = AlertsConfig(divergence_window_orders=1, divergence_windows=2)
    items = [("tca_divergence", divergence(d, T0 + i * S, symbol))
             for i, (d, symbol) in enumerate([(50, "AAA"), (None, "AAA"), (50, "BBB"), (50, "AAA")])]
    out = alerts(run(items, cfg))
    assert [(a["alert_key"], a["status"]) for a in out] == [("tca_divergence_breach:AAA", "firing")]


def test_threshold_comes_from_configuration() -> None:
    items = [("tca_divergence", divergence(15.0, T0 + i * S)) for i in range(18)]
    assert [a["status"] for a in alerts(run(items, AlertsConfig()))] == ["firing"]  # 15 > 12 (default)
    assert alerts(run(items, AlertsConfig(divergence_threshold_bps=15.0))) == []  # 15 is not over 15
    env = {"MICROEXEC_ALERT_DIVERGENCE_THRESHOLD_BPS": "20", "MICROEXEC_ALERT_DIVERGENCE_WINDOWS": "1"}
    cfg = AlertsConfig.from_env(env)
    assert (cfg.divergence_threshold_bps, cfg.divergence_windows) == (20.0, 1)
    assert alerts(run(items, cfg)) == []


def test_bad_divergence_goes_to_dlq() -> None:
    bad = [divergence(float("nan"), T0), {**divergence(1.0, T0), "symbol": ""},
           {**divergence(1.0, T0), "event_ts": "yesterday"}, divergence(1e300, T0), divergence(-1e300, T0)]
    result = run_offline(AlertsProcessor(AlertsConfig()), records([("tca_divergence", v) for v in bad]))
    assert [reason for _, reason in result.dlq] == [
        "non_finite_number", "missing_field", "bad_timestamp", "out_of_range", "out_of_range"]
    assert result.states[0].snapshot() == {}, "a refused record leaves no state behind"


def test_bad_advice_and_state_go_to_dlq() -> None:
    bad = [("advice", advice(T0, risk=1.5)), ("advice", advice(T0, participation=float("inf"))),
           ("advice", {**advice(T0), "adverse_selection_risk": None}), ("state", {**state(T0), "symbol": None}),
           ("state", {**state(T0), "event_ts": None})]
    result = run_offline(AlertsProcessor(AlertsConfig()), records(bad))
    assert sorted(reason for _, reason in result.dlq) == sorted(
        ["out_of_range", "non_finite_number", "missing_field", "missing_field", "missing_field"])


# -- adverse selection --------------------------------------------------------------------------
def spike_config() -> AlertsConfig:
    return AlertsConfig(adverse_window_s=10.0, adverse_flags_per_min=12.0, adverse_min_participation=0.05)


def test_adverse_spike_fires_when_the_window_closes_with_enough_flags_and_high_participation() -> None:
    cfg = spike_config()  # 12 flags/min over a 10 s window: more than 2 flags
    start = (T0 // (10 * S)) * 10 * S
    window = [("advice", advice(start + i * S, risk=0.9 if i < 3 else 0.1, participation=0.08)) for i in range(10)]
    assert alerts(run(window, cfg)) == [], "the window is judged only once it has closed"
    closing = [*window, ("advice", advice(start + 10 * S))]
    out = alerts(run(closing, cfg))
    assert [(a["alert_key"], a["status"], a["severity"]) for a in out] == [
        ("adverse_selection_spike:NVDA", "firing", "critical")]
    assert out[0]["value"] == pytest.approx(18.0) and out[0]["threshold"] == 12.0
    # Exactly two flags (12/min) is not over the threshold; a flag at exactly 0.85 is not a flag.
    two = [("advice", advice(start + i * S, risk=0.9 if i < 2 else 0.85, participation=0.08)) for i in range(10)]
    assert alerts(run([*two, ("advice", advice(start + 10 * S))], cfg)) == []


def test_adverse_spike_needs_participation_to_stay_high_all_window() -> None:
    cfg = spike_config()
    start = (T0 // (10 * S)) * 10 * S
    items = [("advice", advice(start + i * S, risk=0.95, participation=0.08 if i != 5 else 0.05)) for i in range(10)]
    items.append(("advice", advice(start + 10 * S)))
    assert alerts(run(items, cfg)) == [], "participation was cut to the threshold once in the window"


def test_adverse_spike_does_not_repeat_and_resolves_on_a_quiet_window_or_a_gap() -> None:
    cfg = spike_config()
    start = (T0 // (10 * S)) * 10 * S
    items = [("advice", advice(start + i * S, risk=0.99)) for i in range(30)]  # three flagged windows
    items.append(("advice", advice(start + 30 * S, risk=0.1)))
    assert [a["status"] for a in alerts(run(items, cfg))] == ["firing"]
    items += [("advice", advice(start + (31 + i) * S, risk=0.1)) for i in range(10)]  # a quiet window closes
    out = alerts(run(items, cfg))
    assert [a["status"] for a in out] == ["firing", "resolved"]
    assert out[1]["event_ts"] == format_ts_ns(start + 40 * S)
    # Firing again, then a gap of empty windows: the latest closed window had no flags at all.
    gap = [("advice", advice(start + i * S, risk=0.99)) for i in range(20)]
    gap.append(("advice", advice(start + 60 * S, risk=0.1)))
    assert [a["status"] for a in alerts(run(gap, cfg))] == ["firing", "resolved"]


# -- advice stream stale, event time ------------------------------------------------------------
def test_stale_fires_when_state_runs_past_the_last_advice_by_the_timeout() -> None:
    cfg = AlertsConfig(advice_timeout_s=5.0)
    items: list[tuple[str, dict[str, Any]]] = []
    for i in range(4):  # answered states: no lag
        items += [("state", state(T0 + i * S)), ("advice", advice(T0 + i * S))]
    items += [("state", state(T0 + (4 + i) * S)) for i in range(6)]  # 4..9: unanswered from 4 s
    assert alerts(run_in_arrival_order(items, cfg)) == [], "5 s past the first unanswered state is not over 5 s"
    items.append(("state", state(T0 + 9 * S + 1_000)))  # 1 us: event_ts has microseconds
    out = alerts(run_in_arrival_order(items, cfg))
    assert [(a["alert_key"], a["status"]) for a in out] == [("advice_stream_stale:NVDA", "firing")]
    assert out[0]["value"] == pytest.approx(5.000001) and out[0]["severity"] == "critical"
    items += [("state", state(T0 + (10 + i) * S)) for i in range(5)]
    assert len(alerts(run_in_arrival_order(items, cfg))) == 1, "no repeat while firing"
    # The advisor works off its backlog (advice older than the states already applied): still
    # behind by more than the timeout, then within it.
    items.append(("advice", advice(T0 + 5 * S)))
    assert len(alerts(run_in_arrival_order(items, cfg))) == 1
    items.append(("advice", advice(T0 + 10 * S)))
    out = alerts(run_in_arrival_order(items, cfg))
    assert [a["status"] for a in out] == ["firing", "resolved"]
    assert REGISTRY.get_sample_value("execution_advice_lag_seconds", {"symbol": "NVDA"}) == pytest.approx(4.0)


def test_quiet_states_answered_moments_later_never_count_as_stale() -> None:
    """States 30 s apart (a heartbeat on a quiet market), each answered: no alert with a 5 s timeout,
    whichever of a state and its advice the merge applies first."""
    cfg = AlertsConfig(advice_timeout_s=5.0)
    items: list[tuple[str, dict[str, Any]]] = []
    for i in range(5):
        items += [("state", state(T0 + 30 * i * S)), ("advice", advice(T0 + 30 * i * S))]
    assert alerts(run(items, cfg)) == []  # merged: the advice ranks first on equal timestamps
    assert alerts(run_in_arrival_order(items, cfg)) == []  # live: each state before its advice
    late = [("state", state(T0 + 30 * i * S)) for i in range(2)] + [("advice", advice(T0 + 30 * S))]
    assert [a["status"] for a in alerts(run_in_arrival_order(late, cfg))] == ["firing", "resolved"], \
        "a state left unanswered for 30 s is stale even if the advice comes eventually"


def test_a_symbol_the_advisor_never_answered_goes_stale() -> None:
    cfg = AlertsConfig(advice_timeout_s=2.0)
    items = [("state", state(T0 + i * S, "AAA")) for i in range(4)] + [("advice", advice(T0, symbol="BBB"))]
    assert [a["alert_key"] for a in alerts(run(items, cfg))] == ["advice_stream_stale:AAA"]


# -- advice stream stale, wall clock (punctuation) ----------------------------------------------
def test_whole_stream_stale_on_an_injected_wall_clock() -> None:
    cfg = AlertsConfig(stream_timeout_s=10.0, punctuate_interval_s=1.0)
    proc = AlertsProcessor(cfg)
    result = OfflineResult()
    # Nothing has ever arrived on partitions 0 and 1: the first tick starts the idle clock.
    assert punctuate_offline(proc, result, WALL0, partitions=(0, 1)) == []
    assert punctuate_offline(proc, result, WALL0 + 10 * S) == [], "10 s idle is not over 10 s"
    out = alerts(punctuate_offline(proc, result, WALL0 + 10 * S + 1))
    assert [(a["alert_key"], a["status"], a["symbol"]) for a in out] == [
        ("advice_stream_stale:*:p0", "firing", None), ("advice_stream_stale:*:p1", "firing", None)]
    assert out[0]["event_ts"] == format_ts_ns(WALL0 + 10 * S + 1)
    assert result.outputs[-1].timestamp_ms == (WALL0 + 10 * S + 1) // 1_000_000
    assert punctuate_offline(proc, result, WALL0 + 20 * S) == [], "no repeat while firing"
    assert firing_gauge("advice_stream_stale", "advice_stream_stale:*:p1") == 1
    # Advice reaches partition 1 only: its alert resolves at the next tick; partition 0 never
    # carried a symbol, and now that advice flows elsewhere its silence is not staleness: resolved.
    run_offline(proc, records([("advice", advice(T0))], partition=1), into=result)
    out = alerts(punctuate_offline(proc, result, WALL0 + 21 * S))
    assert sorted((a["alert_key"], a["status"]) for a in out) == [("advice_stream_stale:*:p0", "resolved"),
                                                                  ("advice_stream_stale:*:p1", "resolved")]
    assert next(a for a in out if a["alert_key"].endswith("p1"))["value"] == pytest.approx(21.0)
    # Advice keeps flowing (seen at each tick): no alert however far the wall clock moves by ticks.
    for k in range(1, 4):
        run_offline(proc, records([("advice", advice(T0 + k * S))], partition=1), into=result)
        assert punctuate_offline(proc, result, WALL0 + (21 + 9 * k) * S) == []
    # It stops: fires again once the timeout has passed since the last tick that saw it.
    assert punctuate_offline(proc, result, WALL0 + 58 * S) == []
    assert [a["status"] for a in alerts(punctuate_offline(proc, result, WALL0 + 59 * S))] == ["firing"]


def test_an_empty_partition_is_not_stale_while_advice_flows_on_others() -> None:
    """Three symbols over six partitions: the partitions that never carry one stay quiet, the one
    whose advice stops fires."""
    cfg = AlertsConfig(stream_timeout_s=10.0, punctuate_interval_s=1.0)
    proc = AlertsProcessor(cfg)
    result = OfflineResult()
    run_offline(proc, records([("state", state(T0)), ("advice", advice(T0))], partition=2), into=result)
    assert punctuate_offline(proc, result, WALL0, partitions=(0, 1, 2)) == []
    out = alerts(punctuate_offline(proc, result, WALL0 + 30 * S))
    assert [(a["alert_key"], a["status"]) for a in out] == [("advice_stream_stale:*:p2", "firing")]
    assert alerts(punctuate_offline(proc, result, WALL0 + 60 * S)) == []


def test_stream_staleness_survives_a_restart_from_committed_state() -> None:
    """The idle clock is in state (changelogged), so a restarted instance keeps counting from the
    wall time advice was last seen, not from its own start."""
    cfg = AlertsConfig(stream_timeout_s=10.0)
    first = OfflineResult()
    run_offline(AlertsProcessor(cfg), records([("advice", advice(T0))]), into=first)
    punctuate_offline(AlertsProcessor(cfg), first, WALL0)
    restarted = OfflineResult(states=first.states)  # as restored from the changelog
    out = alerts(punctuate_offline(AlertsProcessor(cfg), restarted, WALL0 + 11 * S))
    assert [a["status"] for a in out] == ["firing"]


def test_revoked_partition_gauges_are_removed() -> None:
    cfg = AlertsConfig(stream_timeout_s=2.0, punctuate_interval_s=1.0)
    proc = AlertsProcessor(cfg)
    result = OfflineResult()
    punctuate_offline(proc, result, WALL0, partitions=(7, 8))
    punctuate_offline(proc, result, WALL0 + 3 * S)
    assert firing_gauge("advice_stream_stale", "advice_stream_stale:*:p7") == 1
    del result.states[7]  # revoked: no longer punctuated here
    for k in range(4, 8):
        punctuate_offline(proc, result, WALL0 + k * S)
    assert firing_gauge("advice_stream_stale", "advice_stream_stale:*:p7") is None
    assert firing_gauge("advice_stream_stale", "advice_stream_stale:*:p8") == 1


# -- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize(("env", "variable"), [
    ({"MICROEXEC_ALERT_DIVERGENCE_THRESHOLD_BPS": "-1"}, "MICROEXEC_ALERT_DIVERGENCE_THRESHOLD_BPS"),
    ({"MICROEXEC_ALERT_DIVERGENCE_WINDOWS": "two"}, "MICROEXEC_ALERT_DIVERGENCE_WINDOWS"),
    ({"MICROEXEC_ALERT_DIVERGENCE_WINDOW_ORDERS": "0"}, "MICROEXEC_ALERT_DIVERGENCE_WINDOW_ORDERS"),
    ({"MICROEXEC_ALERT_ADVERSE_FLAG_THRESHOLD": "1.5"}, "MICROEXEC_ALERT_ADVERSE_FLAG_THRESHOLD"),
    ({"MICROEXEC_ALERT_ADVICE_TIMEOUT_S": "nan"}, "MICROEXEC_ALERT_ADVICE_TIMEOUT_S"),
    ({"MICROEXEC_ALERT_STREAM_TIMEOUT_S": "4", "MICROEXEC_ALERT_PUNCTUATE_INTERVAL_S": "3"},
     "MICROEXEC_ALERT_PUNCTUATE_INTERVAL_S"),
])
def test_bad_configuration_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        AlertsConfig.from_env(env)


def test_configuration_from_env_and_processor_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROEXEC_ALERT_STREAM_TIMEOUT_S", "7.5")
    monkeypatch.setenv("MICROEXEC_ALERT_PUNCTUATE_INTERVAL_S", "0.5")
    proc = AlertsProcessor()
    assert proc.config.stream_timeout_s == 7.5 and proc.punctuate_interval_s == 0.5
    assert AlertsConfig.from_env({}) == AlertsConfig()


# -- the real chain, offline --------------------------------------------------------------------
def test_state_and_advisor_output_raise_nothing_until_advice_stops() -> None:
    """A minute of Torghut-format market data through the real state and advisor processors: the
    alerts consumer stays silent on their output (no false staleness between quiet states), and
    once the advice is cut off it fires advice_stream_stale for every symbol, once."""
    from consumers.advisor.advisor import AdvisorConfig
    from consumers.advisor.processor import AdvisorProcessor
    from consumers.state.processor import StateProcessor
    from streams.offline import as_inputs
    from tests.support.synthetic_market import synthetic_market

    symbols = ["AAA", "BBB", "CCC"]
    states = run_offline(StateProcessor(), list(synthetic_market(symbols, 6000, seed=5))).outputs
    advice_out = run_offline(AdvisorProcessor(AdvisorConfig()), as_inputs(states)).outputs
    assert len(advice_out) == len(states) > 100
    cfg = AlertsConfig(advice_timeout_s=1.0)
    healthy = run_offline(AlertsProcessor(cfg), as_inputs(states + advice_out))
    assert healthy.outputs == [] and not healthy.dlq

    cut_ms = states[len(states) // 2].timestamp_ms
    assert cut_ms is not None
    kept = [a for a in advice_out if a.timestamp_ms is not None and a.timestamp_ms <= cut_ms]
    out = alerts(run_offline(AlertsProcessor(cfg), as_inputs(states + kept)))
    assert sorted((a["alert_key"], a["status"]) for a in out) == [
        (f"advice_stream_stale:{s}", "firing") for s in symbols]
    for a in out:
        assert a["value"] > 1.0 and parse_ts_ns(a["event_ts"]) > cut_ms * 1_000_000 + 1_000_000_000
