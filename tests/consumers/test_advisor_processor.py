"""The advisor Processor through streams.offline.run_offline: schema fields, provenance, fallbacks,
shortfall table, switch-off, metrics, and the full Torghut feed -> state -> advice pipeline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pytest
from fastavro.validation import validate
from prometheus_client import REGISTRY

from consumers.advisor import ADVISOR_VERSION
from consumers.advisor.advisor import AdverseSelectionConfig, AdvisorConfig
from consumers.advisor.policy import BaselinePolicy
from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.schemas import parsed_schema
from streams.timeutil import format_ts_ns
from tests.support.synthetic_market import synthetic_market
from torghut_domain.topics import topic

S = 1_000_000_000
T0 = 1_767_000_000 * S


def state(symbol: str = "NVDA", t_ns: int = T0, **kw: Any) -> dict[str, Any]:
    value = {
        "schema_version": "microstructure_state_v1", "symbol": symbol, "event_ts": format_ts_ns(t_ns),
        "spread_bps": 2.0, "depth_top5_usd": 250_000.0, "order_flow_imbalance": 0.1, "latency_ms_estimate": 20.0,
        "fill_hazard": 0.4, "liquidity_regime": "normal", "crumbling_quote_probability": 0.55,
        "realized_volatility_bps": 1.0,
    }
    value.update(kw)
    return value


def reference(symbol: str = "NVDA", regime: str = "normal", t_ns: int = T0, p50: float = 3.0,
              p95: float = 9.0, reference_order: bool = True) -> dict[str, Any]:
    return {"order_id": f"reference:{symbol}:{regime}" if reference_order else "o-1", "symbol": symbol,
            "side": "buy", "quantity": 1000.0, "horizon_s": 300.0, "event_ts": format_ts_ns(t_ns), "n_paths": 500,
            "shortfall_bps_p5": 0.5, "shortfall_bps_p50": p50, "shortfall_bps_p95": p95, "shortfall_bps_mean": 3.5,
            "fill_ratio_mean": 1.0, "digest": "d", "simulator_version": "sim/1.0", "calibration_id": None,
            "liquidity_regime": regime, "is_reference_order": reference_order}


def records(items: list[tuple[str, dict[str, Any]]], partition: int = 0) -> list[SourceRecord]:
    # Kafka time = list position: the offline driver merges input topics in that order, as the runtime would.
    return [SourceRecord(topic(key), partition, offset, offset, value.get("symbol"), value)
            for offset, (key, value) in enumerate(items)]


def advise_all(items: list[tuple[str, dict[str, Any]]], config: AdvisorConfig | None = None
               ) -> list[dict[str, Any]]:
    result = run_offline(AdvisorProcessor(config or AdvisorConfig()), records(items))
    assert not result.dlq, result.dlq
    return [dict(e.value) for e in result.outputs]  # type: ignore[arg-type]


def test_advice_fields_match_the_schema_and_carry_provenance() -> None:
    cfg = AdvisorConfig()
    [out] = advise_all([("state", state())], cfg)
    with open("schemas/execution_advice_v1.avsc") as fh:
        assert set(out) == {f["name"] for f in json.load(fh)["fields"]}
    assert out["event_ts"] == "2025-12-29T09:20:00.000000Z"
    assert out["input_topic"] == topic("state") and out["input_partition"] == 0 and out["input_offset"] == 0
    canonical = json.dumps(asdict(cfg), sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert out["config_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert out["advisor_version"] == ADVISOR_VERSION
    assert out["fallback_reason"] is None and out["friction_regime"] == "calm_liquid"
    # calm/liquid limits (0.10, market, 3 bps, normal, 0.25) inside the default baseline (0.10, market, 5 bps)
    assert (out["max_participation_rate"], out["preferred_order_type"], out["quote_offset_bps"],
            out["urgency_tier"], out["turnover_budget"]) == (0.10, "market", 3.0, "normal", 0.25)
    assert out["shortfall_source"] == "unavailable" and out["expected_shortfall_bps_p50"] is None
    assert out["latency_ms"] == 0.0 and out["baseline_max_participation_rate"] == 0.10


def test_stale_state_falls_back_to_the_baseline() -> None:
    base = BaselinePolicy(max_participation_rate=0.07, max_quote_offset_bps=4.0)
    outs = advise_all([
        ("state", state("AAA", T0 + 20 * S)),
        ("state", state("NVDA", T0 + 4 * S)),  # 16 s behind the partition clock: stale
        ("state", state("NVDA", T0 + 19_700_000_000)),  # 300 ms behind: fresh, latency 300 ms
    ], AdvisorConfig(baseline=base))
    assert outs[1]["fallback_reason"] == "stale_state"
    assert (outs[1]["max_participation_rate"], outs[1]["preferred_order_type"], outs[1]["quote_offset_bps"],
            outs[1]["urgency_tier"]) == (0.07, "market", 4.0, "normal")
    assert outs[1]["latency_ms"] == pytest.approx(16_000.0)
    assert outs[2]["fallback_reason"] is None and outs[2]["latency_ms"] == pytest.approx(300.0)


def test_invalid_state_gives_a_flagged_baseline_and_unkeyable_goes_to_dlq() -> None:
    outs = advise_all([("state", state(spread_bps=float("nan"))), ("state", state(liquidity_regime="chaos"))])
    assert [o["fallback_reason"] for o in outs] == ["invalid_state:spread_bps", "invalid_state:liquidity_regime"]
    result = run_offline(AdvisorProcessor(AdvisorConfig()), records([("state", state(symbol=""))]))
    assert [reason for _, reason in result.dlq] == ["missing_field"]


def test_adverse_selection_tightens_and_is_counted() -> None:
    before = REGISTRY.get_sample_value("execution_adverse_selection_flag_total", {"symbol": "ADV"}) or 0.0
    extreme = state("ADV", order_flow_imbalance=-1.0, crumbling_quote_probability=1.0, liquidity_regime="stressed")
    # |OFI| 1, crumbling 1, stressed: z = -4 + 2.5 + 2 + 0.5*2 = 1.5 -> risk 0.818: tightened, below 0.85
    [out] = advise_all([("state", extreme)])
    assert out["adverse_selection_risk"] == pytest.approx(1 / (1 + 2.718281828459045 ** -1.5))
    assert out["preferred_order_type"] == "limit" and out["urgency_tier"] == "low" and out["quote_offset_bps"] == 0.0
    assert (REGISTRY.get_sample_value("execution_adverse_selection_flag_total", {"symbol": "ADV"}) or 0.0) == before
    # with the former bias (-3) the same state scores 0.924 > 0.85 and is counted as a flag
    old_bias = AdvisorConfig(adverse=AdverseSelectionConfig(bias=-3.0))
    [out] = advise_all([("state", extreme)], old_bias)
    assert out["adverse_selection_risk"] == pytest.approx(1 / (1 + 2.718281828459045 ** -2.5))
    assert REGISTRY.get_sample_value("execution_adverse_selection_flag_total", {"symbol": "ADV"}) == before + 1


def test_reference_shortfall_is_joined_by_regime_and_triggers_re_advice() -> None:
    outs = advise_all([
        ("state", state(t_ns=T0)),
        ("shortfall", reference(regime="normal", t_ns=T0 + S, p50=3.0, p95=9.0)),  # re-advises NVDA
        ("shortfall", reference(regime="stressed", t_ns=T0 + S, p50=8.0, p95=30.0)),  # also re-advises
        ("shortfall", reference(reference_order=False)),  # per-order: ignored
        ("state", state(t_ns=T0 + 2 * S, liquidity_regime="stressed")),
        ("state", state(t_ns=T0 + 3 * S, liquidity_regime="compressed")),  # no compressed reference
    ])
    assert [o["shortfall_source"] for o in outs] == ["unavailable", "simulator", "simulator", "simulator",
                                                      "unavailable"]
    assert (outs[1]["expected_shortfall_bps_p50"], outs[1]["expected_shortfall_bps_p95"]) == (3.0, 9.0)
    assert outs[1]["simulator_version"] == "sim/1.0" and outs[1]["input_topic"] == topic("shortfall")
    assert (outs[3]["expected_shortfall_bps_p50"], outs[3]["expected_shortfall_bps_p95"]) == (8.0, 30.0)
    assert outs[4]["expected_shortfall_bps_p50"] is None


def test_stale_shortfall_is_flagged() -> None:
    outs = advise_all([("shortfall", reference(t_ns=T0)), ("state", state(t_ns=T0 + 7200 * S))])
    assert outs[-1]["shortfall_source"] == "stale" and outs[-1]["expected_shortfall_bps_p50"] == 3.0


def test_disabled_advisor_emits_nothing_but_keeps_telemetry() -> None:
    cfg = AdvisorConfig.from_env({"EXECUTION_ADVISOR_ENABLED": "false"})
    assert not cfg.enabled
    before = REGISTRY.get_sample_value("execution_policy_override_total", {"reason": "advisor_disabled"}) or 0.0
    result = run_offline(AdvisorProcessor(cfg), records([("state", state()), ("state", state(t_ns=T0 + S))]))
    assert result.outputs == [] and not result.dlq
    assert REGISTRY.get_sample_value("execution_policy_override_total", {"reason": "advisor_disabled"}) == before + 2
    assert "ctl" in result.states[0].snapshot()["NVDA"]  # the controller keeps running
    assert AdvisorConfig.from_env({}).enabled


def test_feed_to_state_to_advice_pipeline() -> None:
    symbols = [f"S{i:02d}" for i in range(5)]
    market = list(synthetic_market(symbols, 4000, order_every=7, partitions=2))
    states = run_offline(StateProcessor(), market)
    assert not states.dlq
    state_schema, advice_schema = parsed_schema("microstructure_state_v1"), parsed_schema("execution_advice_v1")
    state_values: list[Any] = [e.value for e in states.outputs]
    assert "order_ack" in {v["latency_source"] for v in state_values}
    for sv in state_values:
        validate(sv, state_schema, raise_errors=True)
    state_records = [SourceRecord(topic("state"), symbols.index(e.key) % 2, i, e.timestamp_ms or 0, e.key, e.value)
                     for i, e in enumerate(states.outputs)]
    cfg = AdvisorConfig(baseline=BaselinePolicy(max_participation_rate=0.08, order_type="limit",
                                                allowed_order_types=("limit",)))
    advice = run_offline(AdvisorProcessor(cfg), state_records)
    assert not advice.dlq and len(advice.outputs) == len(state_records)
    latest = {e.key: e.value for e in advice.outputs}
    assert set(latest) == set(symbols)
    for value in advice.outputs:
        v: Any = value.value
        validate(v, advice_schema, raise_errors=True)
        assert v["max_participation_rate"] <= 0.08 and v["preferred_order_type"] == "limit"
    # replay gives identical advice
    again = run_offline(AdvisorProcessor(cfg), state_records)
    assert again.outputs == advice.outputs


def test_nan_state_is_stored_json_safe_and_re_advice_still_falls_back() -> None:
    from streams.state import canonical_json

    result = run_offline(AdvisorProcessor(AdvisorConfig()), records([
        ("state", state(spread_bps=float("nan"))),
        ("shortfall", reference()),
    ]))
    canonical_json(result.states[0].snapshot())
    values: list[Any] = [e.value for e in result.outputs]
    assert [v["fallback_reason"] for v in values] == ["invalid_state:spread_bps", "invalid_state:spread_bps"]


def test_latency_ms_measures_ingest_to_advice_on_the_wall_clock_when_given_one() -> None:
    """latency_ms is the real delay from the market event's ingest (the state's source_ingest_ts)
    to the advice; it can exceed Torghut's 250 ms timeout. Everything else stays a function of the
    inputs, so the same records with and without a clock differ only in latency_ms."""
    wall = [T0 + 400 * 1_000_000]  # 400 ms after the quote was ingested
    items = [("state", state(source_ingest_ts=format_ts_ns(T0))),
             ("state", state(t_ns=T0 + 100_000_000, source_ingest_ts=format_ts_ns(T0 + 120_000_000)))]
    timed = run_offline(AdvisorProcessor(AdvisorConfig(), wall_clock_ns=lambda: wall[0]), records(items))
    plain = run_offline(AdvisorProcessor(AdvisorConfig()), records(items))
    got = [dict(e.value) for e in timed.outputs]  # type: ignore[arg-type]
    ref = [dict(e.value) for e in plain.outputs]  # type: ignore[arg-type]
    assert [g["latency_ms"] for g in got] == [pytest.approx(400.0), pytest.approx(280.0)]
    assert [r["latency_ms"] for r in ref] == [0.0, 0.0]
    for g, r in zip(got, ref, strict=True):
        assert {k: v for k, v in g.items() if k != "latency_ms"} == {k: v for k, v in r.items() if k != "latency_ms"}
    # A clock behind the ingesting host (skew) is clamped, never negative.
    wall[0] = T0 - 5_000_000
    [skewed] = run_offline(AdvisorProcessor(AdvisorConfig(), wall_clock_ns=lambda: wall[0]), records(items[:1])).outputs
    assert isinstance(skewed.value, dict) and skewed.value["latency_ms"] == 0.0


def test_state_records_carry_the_ingest_time_of_their_source_quote() -> None:
    result = run_offline(StateProcessor(), list(synthetic_market(["NVDA"], 200, seed=3)))
    values = [e.value for e in result.outputs]
    assert values and all(isinstance(v, dict) and v["source_ingest_ts"] is not None for v in values)
