"""The simulation Processor through streams.offline.run_offline: calibrations, per-order and reference
distributions, placement by symbol, byte-identical replays, recalibration requests, advice in force,
unfittable windows and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastavro.validation import validate
from prometheus_client import REGISTRY

from consumers.simulation import window
from consumers.simulation.config import SimulationConfig
from consumers.simulation.processor import SimulationProcessor
from producers.torghut_envelopes import quote_envelope, trade_update_envelope
from streams.offline import OfflineResult, run_offline
from streams.processor import Emit, SourceRecord
from streams.schemas import parsed_schema
from streams.state import TransactionalState, canonical_json
from streams.timeutil import format_ts_ns
from tests.support.synthetic_market import synthetic_market
from torghut_domain.topics import topic

T0 = 1_767_000_000 * 1_000_000_000
SYMBOLS = ["AAA", "BBB"]


def _cfg(**kw: Any) -> SimulationConfig:
    base: dict[str, Any] = dict(window_s=60, bucket_s=5, min_events=300, refit_every_s=20, paths=20, min_paths=5,
                                horizon_s=10, warmup_s=2, reference_horizon_s=10, max_fit_iter=60)
    base.update(kw)
    return SimulationConfig(**base)


def _feed(n: int = 8000, order_every: int = 400) -> list[SourceRecord]:
    return list(synthetic_market(SYMBOLS, n, seed=3, order_every=order_every))


def _run(records: list[SourceRecord], **kw: Any) -> OfflineResult:
    return run_offline(SimulationProcessor(_cfg(**kw)), records)


def _of(result: OfflineResult, name: str) -> list[Any]:
    return [e for e in result.outputs if e.topic == topic(name)]


def test_calibrations_then_priced_orders_placed_by_symbol() -> None:
    result = _run(_feed())
    assert result.dlq == []
    cals, sfs = _of(result, "calibration"), _of(result, "shortfall")
    cal_schema, sf_schema = parsed_schema("hawkes_calibration_v1"), parsed_schema("shortfall_distribution_v1")
    assert {c.key for c in cals} == set(SYMBOLS)
    for c in cals:
        assert validate(c.value, cal_schema)
        v = c.value
        assert v["spectral_radius"] < 1 and len(v["ks_statistic"]) == 10 and v["parameter_hash"]
        assert all((k == -1.0) != fitted for k, fitted in zip(v["ks_statistic"], v["fitted_dimensions"], strict=True))
    assert next(c.value["trigger"] for c in cals if c.key == "AAA") == "first"
    assert any(c.value["warm_started"] for c in cals), "cadence refits start from the previous fit"
    in_force: dict[str, str] = {}
    statuses = []
    outputs_in_order: list[Any] = [e for e in result.outputs if e.topic in (topic("calibration"), topic("shortfall"))]
    for e in outputs_in_order:
        if e.topic == topic("calibration"):
            in_force[e.key] = e.value["parameter_hash"]
            continue
        v = e.value
        assert validate(v, sf_schema)
        assert e.partition_key == v["symbol"] and e.key == v["order_id"]  # placed on the symbol's partition
        statuses.append(v["status"])
        if v["status"] == "no_calibration":
            assert v["symbol"] not in in_force and v["n_paths"] == 0 and v["calibration_hash"] is None
            continue
        assert v["status"] == "ok"
        assert v["calibration_hash"] == in_force[v["symbol"]]
        assert v["shortfall_bps_p5"] <= v["shortfall_bps_p50"] <= v["shortfall_bps_p95"]
        assert v["n_paths"] == 20 and len(v["digest"]) == 64 and 0 < v["fill_ratio_mean"] <= 1
    assert "no_calibration" in statuses and statuses.count("ok") >= 10
    refs = [e.value for e in sfs if e.value["is_reference_order"]]
    assert {r["order_id"] for r in refs} == {"reference:AAA:normal", "reference:BBB:normal"}
    assert all(r["liquidity_regime"] == "normal" and r["status"] == "ok" for r in refs)
    # one reference per calibration (the regime in force at each)
    assert len(refs) == len(cals)


def test_replay_gives_byte_identical_records() -> None:
    feed = _feed(5000)
    first, second = _run(feed), _run(feed)
    dump = [canonical_json([e.topic, e.key, e.value, e.timestamp_ms, e.partition_key]) for e in first.outputs]
    again = [canonical_json([e.topic, e.key, e.value, e.timestamp_ms, e.partition_key]) for e in second.outputs]
    assert dump == again and len(dump) > 5


def test_thread_count_changes_no_record() -> None:
    """Refits and the Monte Carlo may use every core (MICROEXEC_SIM_MC_THREADS): the records must not
    depend on it, or a consumer moved to a bigger machine would stop replaying its own history."""
    feed = _feed(5000)
    one, two = _run(feed, mc_threads=1), _run(feed, mc_threads=2)
    dump = [canonical_json([e.topic, e.key, e.value, e.timestamp_ms]) for e in one.outputs]
    assert dump == [canonical_json([e.topic, e.key, e.value, e.timestamp_ms]) for e in two.outputs]
    assert len(_of(one, "calibration")) >= 2 and len(_of(one, "shortfall")) >= 2


def _tca(symbol: str, t_ns: int, offset: int, requested: bool = True) -> SourceRecord:
    value = {"schema_version": "tca_divergence_v1", "symbol": symbol, "order_id": "x", "side": "buy",
             "event_ts": format_ts_ns(t_ns), "arrival_price": 100.0, "avg_fill_price": 100.1, "filled_qty": 1.0,
             "slippage_bps": 10.0, "shortfall_notional": 0.1, "realized_shortfall_bps": 10.0,
             "recalibration_requested": requested}
    return SourceRecord(topic("tca_divergence"), 0, offset, t_ns // 1_000_000, symbol, value)


def test_recalibration_request_refits_at_the_next_market_event() -> None:
    feed = _feed(8000, order_every=0)
    mid_ts = (feed[4000].timestamp_ms) * 1_000_000
    plain = _run(feed, refit_every_s=1000)
    asked = _run([*feed, _tca("AAA", mid_ts, 0), _tca("BBB", mid_ts, 1, requested=False)], refit_every_s=1000)
    plain_triggers = [(c.key, c.value["trigger"]) for c in _of(plain, "calibration")]
    asked_cals = _of(asked, "calibration")
    assert sorted(plain_triggers) == [("AAA", "first"), ("BBB", "first")]
    requested = [c for c in asked_cals if c.value["trigger"] == "recalibration_request"]
    assert [c.key for c in requested] == ["AAA"]  # BBB's record did not ask
    assert requested[0].timestamp_ms >= mid_ts // 1_000_000
    assert requested[0].timestamp_ms - mid_ts // 1_000_000 < 1000  # the next AAA event, not the cadence
    assert requested[0].value["warm_started"]


def _advice(symbol: str, t_ns: int, offset: int, regime: str) -> SourceRecord:
    value = {"schema_version": "execution_advice_v1", "symbol": symbol, "event_ts": format_ts_ns(t_ns),
             "urgency_tier": "low", "max_participation_rate": 0.04, "preferred_order_type": "limit",
             "quote_offset_bps": 0.5, "adverse_selection_risk": 0.2, "liquidity_regime": regime}
    return SourceRecord(topic("advice"), 0, offset, t_ns // 1_000_000, symbol, value)


def test_advice_in_force_prices_orders_and_a_new_regime_gets_its_reference() -> None:
    feed = _feed(6000, order_every=0)
    t_end = feed[-1].timestamp_ms * 1_000_000
    extra = [_advice("AAA", t_end + 1_000_000, 0, "stressed")]
    order = trade_update_envelope("AAA", t_end + 2_000_000, "new", order_id="ord-1", side="sell", qty=300,
                                  order_type="market")
    extra.append(SourceRecord(topic("trade_updates"), 0, 0, (t_end + 2_000_000) // 1_000_000, "AAA", order))
    result = _run(feed + extra)
    assert result.dlq == []
    sfs = [e.value for e in _of(result, "shortfall")]
    stressed = [v for v in sfs if v["order_id"] == "reference:AAA:stressed"]
    assert len(stressed) == 1 and stressed[0]["liquidity_regime"] == "stressed"
    (priced,) = [v for v in sfs if v["order_id"] == "ord-1"]
    assert priced["advice_source"] == "advice" and priced["advice_input_topic"] == topic("advice")
    assert priced["advice_input_offset"] == 0 and priced["liquidity_regime"] == "stressed"
    assert priced["policy_participation_cap"] == 0.04 and priced["policy_order_type"] == "passive"
    assert priced["policy_urgency_tier"] == "low" and priced["policy_quote_offset_bps"] == -0.5
    assert priced["side"] == "sell" and priced["quantity"] == 300.0 and priced["status"] == "ok"


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("microexec_simulation_calibrations_total", {"outcome": outcome}) or 0.0


def test_unfittable_window_keeps_no_calibration_and_counts_the_reason() -> None:
    before = _count("unmappable_window")
    records = [SourceRecord(topic("quotes"), 0, k, T0 // 1_000_000 + k,
                            "FLAT", quote_envelope("FLAT", T0 + k * 1_000_000, 99.99, 100.0, 100.01, 100.0))
               for k in range(400)]  # a quote that never changes: no order-flow events at all
    order = trade_update_envelope("FLAT", T0 + 500 * 1_000_000, "new", order_id="flat-1")
    records.append(SourceRecord(topic("trade_updates"), 0, 0, T0 // 1_000_000 + 500, "FLAT", order))
    result = _run(records)
    assert _of(result, "calibration") == [] and result.dlq == []
    assert _count("unmappable_window") > before
    assert [e.value["status"] for e in _of(result, "shortfall")] == ["no_calibration"]


def test_bad_input_goes_to_the_dlq_with_a_reason() -> None:
    crossed = quote_envelope("AAA", T0, 100.02, 100.0, 100.01, 100.0)
    bad_ts = quote_envelope("AAA", T0, 99.0, 100.0, 100.0, 100.0)
    bad_ts["payload"]["t"] = "yesterday"
    no_id = trade_update_envelope("AAA", T0, "new", order_id="")
    zero_qty = trade_update_envelope("AAA", T0, "new", order_id="z", qty=0)
    fill = trade_update_envelope("AAA", T0, "fill", order_id="f")  # not a parent order: ignored
    recs = [SourceRecord(topic("quotes"), 0, 0, 1, "AAA", crossed),
            SourceRecord(topic("quotes"), 0, 1, 2, "AAA", bad_ts),
            SourceRecord(topic("trade_updates"), 0, 0, 3, "AAA", no_id),
            SourceRecord(topic("trade_updates"), 0, 1, 4, "AAA", zero_qty),
            SourceRecord(topic("trade_updates"), 0, 2, 5, "AAA", fill),
            SourceRecord(topic("advice"), 0, 0, 6, "AAA", {"symbol": "AAA", "event_ts": 5}),
            SourceRecord(topic("tca_divergence"), 0, 0, 7, "AAA", json.dumps({}).encode())]
    result = _run(recs)
    assert [reason for _, reason in result.dlq] == [
        "crossed_quote", "bad_timestamp", "missing_field", "non_positive_number", "bad_timestamp", "wrong_envelope"]
    assert result.outputs == []


def _as_crypto(records: list[SourceRecord]) -> list[SourceRecord]:
    """The synthetic feed as a crypto venue: prices +59,900 (about 60,000), fractional sizes, and the
    top of book from an L2 snapshot topic instead of quotes."""
    out = []
    for r in records:
        p = r.value["payload"]
        ts = r.value["eventTs"]
        if r.topic == topic("quotes"):
            value: dict[str, Any] = {"symbol": "BTCUSDT", "event_ts": ts, "venue": "binance", "sequence": r.offset,
                                     "bids": [{"price": round(p["bp"] + 59_900, 2), "size": p["bs"] / 1000}],
                                     "asks": [{"price": round(p["ap"] + 59_900, 2), "size": p["as"] / 1000}]}
            out.append(SourceRecord(topic("book_l2"), 0, r.offset, r.timestamp_ms, "BTCUSDT", value))
        elif r.topic == topic("trades"):
            env = json.loads(json.dumps(r.value))
            env["symbol"] = env["payload"]["S"] = "BTCUSDT"
            env["payload"]["p"] = round(p["p"] + 59_900, 2)
            env["payload"]["s"] = p["s"] / 1000
            out.append(SourceRecord(r.topic, 0, r.offset, r.timestamp_ms, "BTCUSDT", env))
    return out


def test_a_crypto_symbols_size_unit_is_read_off_its_sizes_when_not_configured() -> None:
    """Sizes quoted to one decimal (0.1-1.9 BTC): without MICROEXEC_SIM_SIZE_UNITS the window's finest size
    decimal is the unit, so the fit and the priced order equal a run configured with 0.1, not one with the
    old default of 1 (which counted every size under 1.5 as one unit)."""
    feed = _as_crypto(list(synthetic_market(["X"], 3000, seed=9)))
    t_last = feed[-1].timestamp_ms
    order = trade_update_envelope("BTCUSDT", t_last * 1_000_000 + 1, "new", order_id="btc-1", qty=0.25)
    feed.append(SourceRecord(topic("trade_updates"), 0, 0, t_last, "BTCUSDT", order))

    def priced(**cfg: Any) -> tuple[Any, Any, float]:
        result = run_offline(SimulationProcessor(_cfg(**cfg)), feed)
        (p,) = [e.value for e in _of(result, "shortfall") if e.value["order_id"] == "btc-1"]
        ref = [e.value["quantity"] for e in _of(result, "shortfall") if e.value["order_id"].startswith("reference:")]
        return _of(result, "calibration")[-1].value["calibration_id"], p, ref[0]

    inferred, configured, whole = priced(), priced(size_units={"BTCUSDT": 0.1}), priced(size_units={"BTCUSDT": 1.0})
    assert inferred == configured
    assert inferred[1]["status"] == "ok"
    assert inferred[1] != whole[1]
    # A reference order's quantity is the venue's, whatever the unit: on whole-BTC sizes, a unit of 0.1
    # scales every model size by 10 and the reference order's units with it, and its BTC stay the same.
    for r in feed:
        v = r.value
        for side in ("bids", "asks"):
            for level in v.get(side, []):
                level["size"] = round(level["size"] * 10)
        if "payload" in v and "s" in v["payload"]:
            v["payload"]["s"] = round(v["payload"]["s"] * 10) or 1
    tenth, one = priced(size_units={"BTCUSDT": 0.1}), priced(size_units={"BTCUSDT": 1.0})
    assert tenth[2] == pytest.approx(one[2], rel=0.02) and one[2] > 0


def test_l2_top_of_book_calibrates_a_crypto_symbol_at_its_own_price_scale() -> None:
    feed = _as_crypto(list(synthetic_market(["X"], 3000, seed=9)))
    t_last = feed[-1].timestamp_ms
    order = trade_update_envelope("BTCUSDT", t_last * 1_000_000 + 1, "new", order_id="btc-1", qty=0.25)
    feed.append(SourceRecord(topic("trade_updates"), 0, 0, t_last, "BTCUSDT", order))
    result = run_offline(SimulationProcessor(_cfg(size_units={"BTCUSDT": 0.001})), feed)
    assert result.dlq == []
    cals = _of(result, "calibration")
    assert cals and all(c.value["tick_size"] == 0.01 for c in cals)  # inferred from 60000.01-style prices
    (priced,) = [e.value for e in _of(result, "shortfall") if e.value["order_id"] == "btc-1"]
    assert priced["status"] == "ok" and priced["quantity"] == 0.25
    assert 59_000 < priced["arrival_mid"] < 61_000
    # With a quote feed for the symbol, L2 books no longer enter the window (no double counting).
    quotes = [SourceRecord(topic("quotes"), 0, 0, feed[0].timestamp_ms, "BTCUSDT",
                           quote_envelope("BTCUSDT", feed[0].timestamp_ms * 1_000_000, 59_999.0, 1.0, 60_001.0, 1.0))]
    books = [r for r in feed if r.topic == topic("book_l2")][:50]
    mixed = run_offline(SimulationProcessor(_cfg()), quotes + books)
    meta = mixed.states[0].snapshot()["win:BTCUSDT"]
    assert sum(c for _, c in meta["b"]) == 1


def test_budget_refusal_is_a_status_and_no_reference_reaches_the_advisor() -> None:
    result = _run(_feed(5000), budget_events=1_000.0)
    assert _of(result, "calibration"), "calibrations still happen"
    sfs = [e.value for e in _of(result, "shortfall")]
    assert sfs and all(v["status"] in ("budget_exceeded", "no_calibration") for v in sfs)
    assert not any(v["is_reference_order"] for v in sfs)  # a refused reference is not published
    refused = [v for v in sfs if v["status"] == "budget_exceeded"]
    assert refused and all(v["n_paths"] == 0 and v["shortfall_bps_p50"] == 0.0 and v["work_events"] > 1_000
                           for v in refused)
    reduced = _run(_feed(5000), budget_events=200_000.0, paths=1000, min_paths=5)  # ~2,000 events a path
    ok = [e.value for e in _of(reduced, "shortfall") if e.value["status"] == "ok"]
    assert ok and all(5 <= v["n_paths"] < v["n_paths_requested"] == 1000 for v in ok)


def _continue_from_changelog(snapshot: dict[str, Any], records: list[Any]) -> list[Emit]:
    """Rebuild keyed state from its canonical JSON (what the changelog carries) and process ``records``
    with a new processor, committing after each, as a restarted consumer would."""
    restored = TransactionalState()
    for key, value in snapshot.items():
        restored.restore(key, json.loads(canonical_json(value)))
    processor, rest = SimulationProcessor(_cfg()), list[Emit]()
    for record in records:
        rest.extend(processor.process(record, restored))
        restored.commit()
    return rest


def test_state_restored_from_its_json_changelog_continues_byte_identically() -> None:
    """Stop half way, rebuild the keyed state from its canonical JSON (what the changelog carries),
    continue with a new processor: the same records as one uninterrupted run."""
    feed = sorted(_feed(6000), key=lambda r: (r.timestamp_ms, r.topic != topic("quotes")))
    whole = run_offline(SimulationProcessor(_cfg()), feed)
    first = run_offline(SimulationProcessor(_cfg()), feed[:3000])
    rest = _continue_from_changelog(first.states[0].snapshot(), feed[3000:])
    dump = [canonical_json([e.key, e.value]) for e in whole.outputs]
    assert dump == [canonical_json([e.key, e.value]) for e in first.outputs + rest]
    assert any(e.topic == topic("shortfall") for e in rest) and any(e.topic == topic("calibration") for e in rest)


def test_state_written_before_window_chunking_restores_and_continues_byte_identically(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A changelog from before the window was chunked (each bucket whole under one key, as a huge
    CHUNK_EVENTS writes it) restores, and the run continues with the same records as one
    uninterrupted chunked run."""
    feed = sorted(_feed(6000), key=lambda r: (r.timestamp_ms, r.topic != topic("quotes")))
    whole = run_offline(SimulationProcessor(_cfg()), feed)
    monkeypatch.setattr(window, "CHUNK_EVENTS", 10**9)
    first = run_offline(SimulationProcessor(_cfg()), feed[:3000])
    monkeypatch.undo()
    snap = first.states[0].snapshot()
    assert max(len(v["e"]) for k, v in snap.items() if k.startswith("wb:")) > window.CHUNK_EVENTS
    rest = _continue_from_changelog(snap, feed[3000:])
    dump = [canonical_json([e.key, e.value]) for e in whole.outputs]
    assert dump == [canonical_json([e.key, e.value]) for e in first.outputs + rest]
    assert any(e.topic == topic("calibration") for e in rest)
