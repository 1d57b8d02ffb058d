"""The state Processor end to end on hand-built Torghut envelopes, through streams.offline.run_offline.

Expected numbers are computed by hand in the comments from docs/features.md definitions.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from consumers.state.config import EmitThresholds, StateConfig
from consumers.state.processor import StateProcessor
from producers.torghut_envelopes import quote_envelope, trade_envelope, trade_update_envelope
from streams.offline import run_offline
from streams.processor import InvalidRecord, SourceRecord
from streams.state import TransactionalState, canonical_json
from tests.support.synthetic_market import synthetic_market
from torghut_domain.topics import topic

S = 1_000_000_000
T0 = 1_767_000_000 * S  # 2025-12-29T09:20:00Z
MS = 1_000_000

ALWAYS = EmitThresholds(spread_bps_abs=0.0, spread_rel=0.0, depth_rel=-1.0, ofi_abs=0.0, fill_hazard_abs=0.0,
                        latency_ms_abs=0.0, latency_rel=0.0, crumbling_abs=0.0, min_interval_s=0.0)


def _records(items: list[tuple[str, dict[str, Any]]]) -> list[SourceRecord]:
    # timestamp_ms (the Kafka record time) is the list position, unrelated to the envelopes' event times:
    # the runtime's cross-topic merge orders by it (records arrive as listed), while the processor itself
    # must decide on event time only.
    return [SourceRecord(topic(key), 0, offset, offset, value.get("symbol"), value)
            for offset, (key, value) in enumerate(items)]


def q(t: int, bid: float, bs: float, ask: float, as_: float, lag_ms: float | None = 20.0) -> tuple[str, dict]:
    return "quotes", quote_envelope("NVDA", t, bid, bs, ask, as_, ingest_lag_ms=lag_ms)


def tr(t: int, price: float, size: float, lag_ms: float | None = 20.0) -> tuple[str, dict]:
    return "trades", trade_envelope("NVDA", t, price, size, ingest_lag_ms=lag_ms)


def upd(t: int, event: str, **kw: Any) -> tuple[str, dict]:
    return "trade_updates", trade_update_envelope("NVDA", t, event, **kw)


def run(items: list[tuple[str, dict[str, Any]]], config: StateConfig | None = None) -> list[dict[str, Any]]:
    result = run_offline(StateProcessor(config), _records(items))
    assert not result.dlq, result.dlq
    return [dict(e.value) for e in result.outputs]  # type: ignore[arg-type]


def test_first_quote_features_and_schema_fields() -> None:
    [out] = run([q(T0, 100.00, 500, 100.02, 400)])
    assert out["schema_version"] == "microstructure_state_v1"
    assert out["symbol"] == "NVDA"
    assert out["event_ts"] == "2025-12-29T09:20:00.000000Z"
    assert out["spread_bps"] == pytest.approx(0.02 / 100.01 * 1e4)  # 1.99980 bps
    assert out["depth_top5_usd"] == pytest.approx(90008.0)  # 100*500 + 100.02*400
    assert out["depth_source"] == "top_of_book"
    assert out["order_flow_imbalance"] == 0.0
    assert out["latency_ms_estimate"] == pytest.approx(20.0)
    assert out["latency_source"] == "feed_lag"
    assert out["fill_hazard"] == 0.0
    assert out["crumbling_quote_probability"] == pytest.approx(500 / 900)
    assert out["liquidity_regime"] == "normal"
    assert out["emit_reason"] == "first"
    assert out["source_topic"] == topic("quotes") and out["source_offset"] == 0
    with open("schemas/microstructure_state_v1.avsc") as fh:
        import json

        names = {f["name"] for f in json.load(fh)["fields"]}
    assert set(out) == names


def test_fill_hazard_and_latency_sources() -> None:
    cfg = StateConfig(emit=ALWAYS)
    outs = run([
        q(T0, 100.00, 500, 100.02, 400),
        # 150 shares hit the bid 1 s later (ingest lag 5 ms): rate = 150/30 = 5 sh/s against 500 ahead;
        # p_bid = 1 - exp(-5*60/500) = 0.451188, p_ask = 0 -> fill_hazard = 0.225594;
        # feed lag EWMA: 20 + 0.2 * (5 - 20) = 17 ms
        tr(T0 + 1 * S, 100.00, 150, lag_ms=5.0),
        # our order submitted at +1.958 s, acknowledged ("new") at +2 s: 42 ms, source order_ack
        upd(T0 + 2 * S, "new", order_id="o1", submitted_at_ns=T0 + 1958 * MS),
        # an inside-spread print consumes no queue: the rate only decays, exp(-2/30)
        tr(T0 + 3 * S, 100.01, 1000),
    ], cfg)
    assert [o["emit_reason"] for o in outs] == ["first", "material_change", "material_change", "material_change"]
    assert outs[1]["fill_hazard"] == pytest.approx(0.5 * (1 - math.exp(-0.6)))
    assert outs[1]["latency_ms_estimate"] == pytest.approx(17.0)
    assert outs[1]["latency_source"] == "feed_lag"
    assert outs[2]["latency_ms_estimate"] == pytest.approx(42.0)
    assert outs[2]["latency_source"] == "order_ack"
    # rate decayed over 2 s: 5 * exp(-2/30) sh/s
    rate = 5.0 * math.exp(-2 / 30)
    assert outs[3]["fill_hazard"] == pytest.approx(0.5 * (1 - math.exp(-rate * 60 / 500)))


def test_market_order_first_fill_latency_and_ack_precedence() -> None:
    cfg = StateConfig(emit=ALWAYS)
    outs = run([
        q(T0, 100.00, 500, 100.02, 400, lag_ms=None),
        # market order: first fill 150 ms after submit (filled_qty == this fill's qty)
        upd(T0 + 1 * S, "fill", order_id="m1", order_type="market", qty=100, filled_qty=100,
            submitted_at_ns=T0 + 850 * MS, fill_price=100.02, fill_qty=100),
        # a later partial fill of another market order is not a *first* fill (cumulative 200 != 50)
        upd(T0 + 2 * S, "partial_fill", order_id="m2", order_type="market", qty=300, filled_qty=200,
            submitted_at_ns=T0 + 1000 * MS, fill_price=100.02, fill_qty=50),
        upd(T0 + 3 * S, "accepted", order_id="m3", order_type="market", submitted_at_ns=T0 + 2990 * MS),
    ], cfg)
    assert outs[0]["latency_source"] == "none" and outs[0]["latency_ms_estimate"] == 0.0
    assert outs[1]["latency_source"] == "first_fill"
    assert outs[1]["latency_ms_estimate"] == pytest.approx(150.0)
    assert outs[2]["latency_ms_estimate"] == pytest.approx(150.0)
    assert outs[3]["latency_source"] == "order_ack"
    assert outs[3]["latency_ms_estimate"] == pytest.approx(10.0)


def test_own_passive_fills_correct_the_model() -> None:
    cfg = StateConfig(emit=ALWAYS)
    outs = run([
        q(T0, 100.00, 500, 100.02, 400),  # no trades: the model says 0
        # our limit order first-fills 10 s after submit, inside the 60 s horizon: success
        upd(T0 + 10 * S, "fill", order_id="l1", qty=100, filled_qty=100, submitted_at_ns=T0,
            fill_price=100.0, fill_qty=100),
        # cancelled after 20 s unfilled: censored (it did not rest for the whole horizon), ignored
        upd(T0 + 20 * S, "canceled", order_id="l2", submitted_at_ns=T0),
        # cancelled after 70 s unfilled: a failure
        upd(T0 + 70 * S, "canceled", order_id="l3", submitted_at_ns=T0),
    ], cfg)
    # (1 + 5*0) / (1 + 5)
    assert outs[1]["fill_hazard"] == pytest.approx(1 / 6)
    # evidence decays with tau 3600 s from +10 s to +20 s: ratio still 1 / (1 + 5/d)
    d20 = math.exp(-10 / 3600)
    assert outs[2]["fill_hazard"] == pytest.approx(d20 / (d20 + 5))
    d = math.exp(-60 / 3600)  # from the success at +10 s to the failure at +70 s
    assert outs[3]["fill_hazard"] == pytest.approx(d / (d + 1 + 5))


def test_order_flow_imbalance_over_decayed_window() -> None:
    cfg = StateConfig(emit=ALWAYS)
    outs = run([
        q(T0, 100.00, 500, 100.02, 400),
        q(T0 + 1 * S, 100.01, 300, 100.02, 400),  # bid up: e1 = +300
        q(T0 + 2 * S, 100.00, 600, 100.02, 400),  # bid down: old 300 gone: e2 = -300
    ], cfg)
    assert outs[1]["order_flow_imbalance"] == pytest.approx(1.0)
    # S = 300 e^-0.2 - 300, A = 300 e^-0.2 + 300 (tau 5 s, 1 s apart) -> -tanh(0.1)
    assert outs[2]["order_flow_imbalance"] == pytest.approx(-math.tanh(0.1))


def test_l2_depth_when_present_and_fallback_when_stale() -> None:
    cfg = StateConfig(emit=ALWAYS)
    book = {"symbol": "NVDA", "event_ts": "2025-12-29T09:20:01Z", "venue": "x", "sequence": 1,
            "bids": [{"price": 100.00, "size": 500.0}, {"price": 99.99, "size": 1000.0}],
            "asks": [{"price": 100.02, "size": 400.0}, {"price": 100.03, "size": 100.0}]}
    outs = run([
        q(T0, 100.00, 500, 100.02, 400),
        ("book_l2", book),
        q(T0 + 3 * S, 100.00, 500, 100.02, 400),  # 2 s after the book: still fresh
        q(T0 + 7 * S, 100.00, 500, 100.02, 400),  # 6 s after the book: stale (> 5 s)
    ], cfg)
    l2_depth = 50000 + 99990 + 40008 + 10003
    assert outs[1]["depth_source"] == "l2_book" and outs[1]["depth_top5_usd"] == pytest.approx(l2_depth)
    assert outs[2]["depth_source"] == "l2_book"
    assert outs[3]["depth_source"] == "top_of_book" and outs[3]["depth_top5_usd"] == pytest.approx(90008.0)


def test_bad_records_go_to_the_dlq_and_do_not_touch_state() -> None:
    crossed_book = {"symbol": "NVDA", "event_ts": "2025-12-29T09:20:01Z",
                    "bids": [{"price": 100.05, "size": 1.0}], "asks": [{"price": 100.02, "size": 1.0}]}
    records = _records([
        q(T0, 100.00, 500, 100.02, 400),
        q(T0 + S, 100.03, 500, 100.02, 400),  # crossed quote
        ("book_l2", crossed_book),
        ("quotes", {"payload": "nope"}),
    ])
    result = run_offline(StateProcessor(), records)
    assert [reason for _, reason in result.dlq] == ["crossed_quote", "crossed_book", "wrong_envelope"]
    assert len(result.outputs) == 1
    assert result.states[0].snapshot()["NVDA"]["bid"] == 100.00


def test_emits_on_material_change_or_heartbeat_not_every_tick() -> None:
    items = [q(T0, 100.00, 500, 100.02, 400)]
    # ten quotes over 1 s with the same touch: nothing material
    items += [q(T0 + i * 100 * MS, 100.00, 500, 100.02, 400) for i in range(1, 11)]
    # +5 s: heartbeat although nothing changed
    items += [q(T0 + 5 * S, 100.00, 500, 100.02, 400)]
    # +5.1 s: spread doubles, but only 0.1 s after the last emit: held back (min interval 0.25 s)...
    items += [q(T0 + 5100 * MS, 99.99, 500, 100.03, 400)]
    # ...and published by the next record after the interval, with that record's coordinates
    items += [q(T0 + 5400 * MS, 99.99, 500, 100.03, 400)]
    outs = run(items)
    assert [o["emit_reason"] for o in outs] == ["first", "heartbeat", "material_change"]
    assert outs[1]["event_ts"] == "2025-12-29T09:20:05.000000Z"
    assert outs[2]["event_ts"] == "2025-12-29T09:20:05.400000Z"
    assert outs[2]["spread_bps"] == pytest.approx(0.04 / 100.01 * 1e4)
    assert outs[2]["source_offset"] == 13


def test_late_quote_does_not_replace_the_current_book_and_goes_to_the_dlq() -> None:
    feed = [q(T0 + S, 100.00, 500, 100.02, 400), q(T0, 90.0, 1, 95.0, 1), q(T0 + 2 * S, 100.01, 500, 100.03, 400)]
    for compiled in (True, False):  # the compiled fold hands the late quote to the reference, which refuses it
        result = run_offline(StateProcessor(compiled=compiled), _records(feed))
        assert [(record.offset, reason) for record, reason in result.dlq] == [(1, "late_quote")], compiled
        state = result.states[0].snapshot()["NVDA"]
        assert state["bid"] == 100.01 and state["q_t"] == T0 + 2 * S


def test_abort_leaves_committed_state_untouched() -> None:
    proc = StateProcessor()
    state = TransactionalState()
    first, second = _records([q(T0, 100.00, 500, 100.02, 400), q(T0 + S, 100.01, 10, 100.02, 400)])
    list(proc.process(first, state))
    state.commit()
    before = canonical_json(state.snapshot())
    list(proc.process(second, state))
    state.abort()
    assert canonical_json(state.snapshot()) == before


def test_replay_is_deterministic_and_state_is_json() -> None:
    records = list(synthetic_market(["AAA", "BBB", "CCC"], 3000, partitions=2))
    a = run_offline(StateProcessor(), records)
    b = run_offline(StateProcessor(), records)
    assert a.outputs == b.outputs and len(a.outputs) > 10
    for part, st in a.states.items():
        assert canonical_json(st.snapshot()) == canonical_json(b.states[part].snapshot())
    # heartbeats keep every active symbol fresh: no gap between emits over 5 s + one event step
    last: dict[str, int] = {}
    for e in a.outputs:
        assert e.timestamp_ms is not None
        if e.key in last:
            assert e.timestamp_ms - last[e.key] <= 5_000 + 1_000
        last[e.key] = e.timestamp_ms


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        StateConfig(ofi_tau_s=0).validate()
    bad = replace(StateConfig().regime, stressed_exit_spread_ratio=3.0)
    with pytest.raises(ValueError):
        StateConfig(regime=bad).validate()


def test_cached_timestamp_formatting_equals_timeutil() -> None:
    import random

    from streams.timeutil import format_ts_ns

    proc, rng = StateProcessor(), random.Random(11)
    for _ in range(20_000):
        t = rng.randrange(0, 4 * 10**18) if rng.random() < 0.5 else T0 + rng.randrange(0, 3 * S)
        assert proc._format_ts(t) == format_ts_ns(t)


def test_overflowing_magnitudes_are_refused_and_state_stays_strict_json() -> None:
    records = _records([
        q(T0, 100.00, 500, 100.02, 400),
        q(T0 + S, 1e200, 1e200, 1.1e200, 1e200),  # finite inputs, infinite notional
        tr(T0 + 2 * S, 100.00, 1e308), tr(T0 + 3 * S, 100.00, 1e308),  # the decayed sum overflows
    ])
    result = run_offline(StateProcessor(), records)
    assert [reason for _, reason in result.dlq] == ["non_finite_state", "non_finite_state"]
    canonical_json(result.states[0].snapshot())  # raises on NaN/inf


def test_state_from_an_older_layout_is_upgraded_not_crashed() -> None:
    proc, state = StateProcessor(), TransactionalState()
    first, second = _records([q(T0, 100.00, 500, 100.02, 400), q(T0 + S, 100.00, 500, 100.02, 400)])
    list(proc.process(first, state))
    state.commit()
    old = dict(state.get("NVDA") or {})
    del old["v"], old["own_s"]  # as written by a version without these keys,
    old["late"] = 3  # and with one this layout no longer has (layout 1 counted late quotes)
    state.restore("NVDA", old)
    list(proc.process(second, state))
    state.commit()
    upgraded = dict(state.get("NVDA") or {})
    assert upgraded["v"] == 2 and upgraded["own_s"] == 0.0 and upgraded["bid"] == 100.00 and "late" not in upgraded


def test_quotes_never_mutate_the_dict_state_get_returned() -> None:
    """Copy-on-write: the runtime keeps the dict it handed out as committed state (and as the undo
    point of the record), so neither a current nor a late quote may change it in place."""
    import copy

    proc, state = StateProcessor(StateConfig(emit=ALWAYS)), TransactionalState()
    first, second, late = _records([q(T0, 100.00, 500, 100.02, 400), q(T0 + S, 100.01, 300, 100.03, 900),
                                    q(T0 + S // 2, 99.0, 1, 101.0, 1)])
    list(proc.process(first, state))
    state.commit()
    committed = state.get("NVDA")
    assert committed is not None
    before = copy.deepcopy(committed)
    assert len(list(proc.process(second, state))) == 1
    assert committed == before and state.get("NVDA") is not committed
    state.commit()
    committed = state.get("NVDA")
    assert committed is not None
    before = copy.deepcopy(committed)
    with pytest.raises(InvalidRecord, match="late_quote"):
        list(proc.process(late, state))
    assert committed == before


def test_finite_values_whose_sum_overflows_are_not_refused() -> None:
    """The quote path checks finiteness on a sum of the values it wrote; a sum that overflows while
    every term is finite falls back to the per-value check instead of refusing the record."""
    # top-of-book notional ~1.4e308 (finite); after a long gap the depth baseline holds about as much,
    # so depth + baseline overflows although neither does
    big = [q(T0, 1e154, 7e153, 1.01e154, 7e153), q(T0 + 100_000 * S, 1e154, 7e153, 1.01e154, 7e153)]
    result = run_offline(StateProcessor(), _records(big))
    assert not result.dlq
    state = result.states[0].snapshot()["NVDA"]
    assert state["cur_depth"] + state["b_depth"] == math.inf and math.isfinite(state["b_depth"])
    canonical_json(state)
