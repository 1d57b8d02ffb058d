"""The TCA processor offline (pure logic, no broker): Torghut's arithmetic by hand for buys and sells
with several partial fills, the same record for every arrival order of (quote, distribution, fills,
completion), the bounded wait, late inputs, zero fills, the reference-price fallbacks, eviction."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.tca import metrics as M
from consumers.tca.config import TcaConfig
from consumers.tca.deadlines import SHARD_PREFIX
from consumers.tca.processor import TcaProcessor
from streams.offline import OfflineResult, run_offline
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, AvroEncoder
from tests.support.tca_feed import MS, NS, OrderSpec, order_updates, quote, shortfall, state_record
from torghut_domain.topics import topic

T0 = 1_795_000_000 * NS  # 2026-11-18
SUB = T0 + 10 * NS


def records(items: list[tuple[str, Any]], partition: int = 0) -> list[SourceRecord]:
    """(topic key, value) in the order the processor must see them: Kafka timestamps 1, 2, 3... make
    the event-time merge of run_offline keep exactly this order (the processor itself reads the
    event times inside the values)."""
    offsets: dict[str, int] = {}
    out = []
    for i, (key, value) in enumerate(items):
        name = topic(key)
        offsets[name] = offsets.get(name, -1) + 1
        out.append(SourceRecord(name, partition, offsets[name], i + 1, None, value))
    return out


def run(items: list[tuple[str, Any]], config: TcaConfig | None = None) -> OfflineResult:
    result = run_offline(TcaProcessor(config or TcaConfig()), records(items))
    assert result.dlq == [], result.dlq
    return result


def tracked(snapshot: dict[str, Any]) -> dict[str, int]:
    """Every tracked order's deadline, from all index shards; checks the clock's count agrees."""
    out = {k: v for key, shard in snapshot.items() if key.startswith(SHARD_PREFIX) for k, v in shard.items()}
    assert snapshot["__clock__"]["n"] == len(out)
    return out


def counter(outcome: str) -> float:
    return M.ORDERS.labels(outcome)._value.get()


BUY = OrderSpec("ord-buy-1", "AAPL", "buy", 100.0, SUB,
                [(SUB + 1 * NS, 100.03, 30.0), (SUB + 2 * NS, 100.05, 50.0), (SUB + 3 * NS, 100.04, 20.0)],
                limit_price=100.10)
SELL = OrderSpec("ord-sell-1", "AAPL", "sell", 200.0, SUB,
                 [(SUB + 1 * NS, 99.98, 40.0), (SUB + 2 * NS, 99.95, 60.0), (SUB + 4 * NS, 99.97, 50.0)],
                 completion="canceled", completion_ns=SUB + 6 * NS, limit_price=99.90, label="baseline")
QUOTES = [("state", state_record("AAPL", SUB - 3 * NS, "compressed")),
          ("quotes", quote("AAPL", SUB - 2 * NS, 99.99, 100.01)),
          ("quotes", quote("AAPL", SUB - 1 * NS, 100.00, 100.02)),  # the arrival quote: mid 100.01
          ("state", state_record("AAPL", SUB + 100 * MS, "stressed")),  # after submit: not the arrival regime
          ("quotes", quote("AAPL", SUB + 500 * MS, 100.03, 100.05))]  # after submit: settles the arrival


def groups(spec: OrderSpec, p50: float, p95: float) -> dict[str, list[tuple[str, Any]]]:
    updates = [("trade_updates", env) for env in order_updates(spec)]
    return {"quote": QUOTES,
            "distribution": [("shortfall", shortfall(spec.order_id, spec.symbol, spec.side, spec.qty,
                                                     spec.submitted_ns, p50, p95))],
            "fills": updates[:-1],
            "completion": updates[-1:]}


# Hand computations (TORGHUT.md): dir=+1 buy / -1 sell; slippage_bps = dir*(avg-arrival)/arrival*1e4;
# shortfall_notional = dir*(avg-arrival)*filled_qty; realized = slippage; divergence = realized - p50.
ARRIVAL = (100.00 + 100.02) / 2  # 100.01
BUY_AVG = (100.03 * 30 + 100.05 * 50 + 100.04 * 20) / 100  # 100.042
BUY_SLIP = (BUY_AVG - ARRIVAL) / ARRIVAL * 1e4  # +3.1997 bps
SELL_AVG = (99.98 * 40 + 99.95 * 60 + 99.97 * 50) / 150  # 14994.7 / 150 = 99.964666...
SELL_SLIP = -1 * (SELL_AVG - ARRIVAL) / ARRIVAL * 1e4  # +4.5329 bps (sold below arrival)


def check_buy(value: dict[str, Any]) -> None:
    assert value["symbol"] == "AAPL" and value["order_id"] == "ord-buy-1" and value["side"] == "buy"
    assert value["arrival_price"] == pytest.approx(100.01, rel=1e-15)
    assert value["arrival_source"] == "quote_mid"
    assert value["avg_fill_price"] == pytest.approx(100.042, rel=1e-14)
    assert value["filled_qty"] == 100.0 and value["fill_ratio"] == 1.0
    assert value["slippage_bps"] == pytest.approx(BUY_SLIP, rel=1e-9)
    assert value["slippage_bps"] == pytest.approx(3.19968003, rel=1e-8)
    assert value["shortfall_notional"] == pytest.approx((BUY_AVG - ARRIVAL) * 100, rel=1e-9)
    assert value["shortfall_notional"] == pytest.approx(3.2, rel=1e-9)
    assert value["realized_shortfall_bps"] == value["slippage_bps"]
    assert value["expected_shortfall_bps_p50"] == 2.5 and value["expected_shortfall_bps_p95"] == 9.0
    assert value["divergence_bps"] == pytest.approx(BUY_SLIP - 2.5, rel=1e-9)
    assert value["expected_missing"] is False and value["simulator_version"] == "sim-test/1"
    assert value["strategy"] == "advisor" and value["liquidity_regime"] == "compressed"
    assert value["event_ts"] == "2026-11-18T11:06:53.000000Z" and value["completion_event"] == "fill"
    assert value["fill_source"] == "fills" and value["window_mean_abs_divergence_bps"] == pytest.approx(
        abs(BUY_SLIP - 2.5), rel=1e-9)


def check_sell(value: dict[str, Any]) -> None:
    assert value["side"] == "sell" and value["order_id"] == "ord-sell-1"
    assert value["avg_fill_price"] == pytest.approx(SELL_AVG, rel=1e-14)
    assert value["filled_qty"] == 150.0 and value["fill_ratio"] == 0.75
    assert value["slippage_bps"] == pytest.approx(SELL_SLIP, rel=1e-9)
    assert value["slippage_bps"] == pytest.approx(4.53288005, rel=1e-8)
    assert value["shortfall_notional"] == pytest.approx(-1 * (SELL_AVG - ARRIVAL) * 150, rel=1e-9)
    assert value["shortfall_notional"] == pytest.approx(6.8, rel=1e-9)
    assert value["divergence_bps"] == pytest.approx(SELL_SLIP - 1.0, rel=1e-9)
    assert value["strategy"] == "baseline" and value["completion_event"] == "canceled"


def test_hand_computed_buy_and_sell_with_partial_fills() -> None:
    for spec, p50, p95, check in ((BUY, 2.5, 9.0, check_buy), (SELL, 1.0, 6.0, check_sell)):
        g = groups(spec, p50, p95)
        result = run(g["quote"] + g["distribution"] + g["fills"] + g["completion"])
        assert len(result.outputs) == 1
        emit = result.outputs[0]
        assert emit.topic == topic("tca_divergence") and emit.key == "AAPL"
        check(dict(emit.value))  # type: ignore[arg-type]
        encoder = AvroEncoder("tca_divergence_v1", emit.topic, None)  # every field the schema has, and no other
        assert AvroDecoder("tca_divergence_v1", None).decode(encoder.encode(emit.value)) == emit.value  # type: ignore[arg-type]


@pytest.mark.parametrize("spec,p50,p95", [(BUY, 2.5, 9.0), (SELL, 1.0, 6.0)], ids=["buy", "sell"])
def test_every_arrival_order_gives_the_same_record(spec: OrderSpec, p50: float, p95: float) -> None:
    g = groups(spec, p50, p95)
    seen = []
    for order in itertools.permutations(g):
        result = run([item for name in order for item in g[name]])
        assert len(result.outputs) == 1, order
        seen.append(result.outputs[0])
    assert len(seen) == 24 and all(emit == seen[0] for emit in seen)
    (check_buy if spec is BUY else check_sell)(dict(seen[0].value))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 3))
def test_any_interleaving_with_redelivered_updates_gives_the_same_record(rnd: Any, duplicates: int) -> None:
    """Trade updates and the distribution shuffled one by one into the (ordered) quote stream, some
    updates delivered twice: still exactly one record, the hand-computed one."""
    g = groups(BUY, 2.5, 9.0)
    movable = g["distribution"] + g["fills"] + g["completion"]
    movable += [rnd.choice(g["fills"] + g["completion"]) for _ in range(duplicates)]
    rnd.shuffle(movable)
    items = list(g["quote"])
    for item in movable:
        items.insert(rnd.randint(0, len(items)), item)
    result = run(items)
    assert len(result.outputs) == 1
    check_buy(dict(result.outputs[0].value))  # type: ignore[arg-type]


def test_missing_distribution_is_emitted_flagged_when_the_wait_expires() -> None:
    g = groups(BUY, 2.5, 9.0)
    done_ns = BUY.fills[-1][0]
    cfg = TcaConfig(wait_s=30.0)
    before = run(g["quote"] + g["fills"] + g["completion"] + [("quotes", quote("AAPL", done_ns + 30 * NS - 1, 100.0,
                                                                                  100.02))], cfg)
    assert before.outputs == []  # the clock has not reached completion + wait
    expired = counter("emitted_after_wait_expired")
    late = M.LATE.labels("distribution")._value.get()
    result = run(g["quote"] + g["fills"] + g["completion"]
                 + [("quotes", quote("AAPL", done_ns + 30 * NS, 100.0, 100.02))] + g["distribution"], cfg)
    assert len(result.outputs) == 1
    value = dict(result.outputs[0].value)  # type: ignore[arg-type]
    assert value["expected_missing"] is True
    assert value["expected_shortfall_bps_p50"] is None and value["divergence_bps"] is None
    assert value["simulator_version"] is None and value["window_mean_abs_divergence_bps"] is None
    assert value["slippage_bps"] == pytest.approx(BUY_SLIP, rel=1e-9)  # the realized side is complete
    assert counter("emitted_after_wait_expired") == expired + 1
    assert M.LATE.labels("distribution")._value.get() == late + 1  # the late distribution: counted, ignored


def test_a_not_run_distribution_counts_as_missing() -> None:
    """As if none had come: the order waits for its deadline (a usable record may still arrive, and
    then wins whichever came first), then is emitted flagged. Reference-order records are ignored."""
    g = groups(BUY, 2.5, 9.0)
    not_run = shortfall(BUY.order_id, "AAPL", "buy", 100.0, SUB, 0.0, 0.0, status="over_budget")
    reference = shortfall(BUY.order_id, "AAPL", "buy", 100.0, SUB, 50.0, 60.0, reference=True)
    tick = ("quotes", quote("AAPL", BUY.fills[-1][0] + 30 * NS, 100.0, 100.02))
    inputs = g["quote"] + [("shortfall", reference), ("shortfall", not_run)] + g["fills"] + g["completion"]
    assert run(inputs).outputs == []
    result = run([*inputs, tick])
    assert len(result.outputs) == 1
    value = dict(result.outputs[0].value)  # type: ignore[arg-type]
    assert value["expected_missing"] is True and value["divergence_bps"] is None
    for late_ok in (g["distribution"][0], ("shortfall", {**g["distribution"][0][1], "status": "ok"})):
        check_buy(dict(run([*inputs, late_ok]).outputs[0].value))  # type: ignore[arg-type]
        check_buy(dict(run(g["quote"] + [late_ok, ("shortfall", not_run)] + g["fills"] + g["completion"]
                           ).outputs[0].value))  # type: ignore[arg-type]


def test_a_duplicate_completion_never_gives_a_second_record() -> None:
    g = groups(BUY, 2.5, 9.0)
    result = run(g["quote"] + g["distribution"] + g["fills"] + g["completion"] + g["completion"] + g["fills"][-1:])
    assert len(result.outputs) == 1


def test_no_quote_before_submit_falls_back_to_limit_then_first_fill() -> None:
    g = groups(BUY, 2.5, 9.0)
    after_only = [("quotes", quote("AAPL", SUB + 500 * MS, 100.03, 100.05))]
    value = dict(run(after_only + g["distribution"] + g["fills"] + g["completion"]).outputs[0].value)  # type: ignore[arg-type]
    assert value["arrival_source"] == "limit_price" and value["arrival_price"] == 100.10
    assert value["slippage_bps"] == pytest.approx((BUY_AVG - 100.10) / 100.10 * 1e4, rel=1e-9)
    market = OrderSpec("ord-mkt", "AAPL", "buy", 100.0, SUB, BUY.fills, order_type="market")
    gm = groups(market, 2.5, 9.0)
    value = dict(run(after_only + gm["distribution"] + gm["fills"] + gm["completion"]).outputs[0].value)  # type: ignore[arg-type]
    assert value["arrival_source"] == "first_fill" and value["arrival_price"] == 100.03
    assert value["slippage_bps"] == pytest.approx((BUY_AVG - 100.03) / 100.03 * 1e4, rel=1e-9)


def test_completion_without_fills_emits_nothing_and_is_counted() -> None:
    spec = OrderSpec("ord-none", "AAPL", "buy", 100.0, SUB, [], completion="canceled", completion_ns=SUB + 5 * NS)
    unfilled = counter("unfilled")
    g = groups(spec, 2.5, 9.0)
    result = run(g["quote"] + g["fills"] + g["completion"] + g["distribution"])
    assert result.outputs == [] and counter("unfilled") == unfilled + 1


def test_fills_that_do_not_add_up_use_the_order_aggregate_after_the_wait() -> None:
    g = groups(BUY, 2.5, 9.0)
    missing_one = g["fills"][:1] + g["fills"][2:]  # the 50-share partial fill never arrives
    done_ns = BUY.fills[-1][0]
    assert run(g["quote"] + g["distribution"] + missing_one + g["completion"]).outputs == []
    result = run(g["quote"] + g["distribution"] + missing_one + g["completion"]
                 + [("quotes", quote("AAPL", done_ns + 31 * NS, 100.0, 100.02))])
    value = dict(result.outputs[0].value)  # type: ignore[arg-type]
    assert value["fill_source"] == "order" and value["filled_qty"] == 100.0
    assert value["avg_fill_price"] == 100.042  # the broker's filled_avg_price, a decimal string in the update


def test_never_completed_orders_are_evicted_by_event_time_and_counted() -> None:
    spec = OrderSpec("ord-open", "AAPL", "buy", 100.0, SUB, [(SUB + NS, 100.03, 10.0), (SUB + 2 * NS, 100.0, 5.0)],
                     completion="canceled", completion_ns=SUB + 3 * NS)
    open_updates = [("trade_updates", env) for env in order_updates(spec)[:-1]]  # never completes
    cfg = TcaConfig(order_ttl_s=3600.0)
    evicted = counter("evicted_never_completed")
    last_ns = SUB + 2 * NS
    kept = run(QUOTES + open_updates + [("quotes", quote("AAPL", last_ns + 3600 * NS - 1, 100.0, 100.02))], cfg)
    assert "o:ord-open" in kept.states[0].snapshot()
    result = run(QUOTES + open_updates + [("quotes", quote("AAPL", last_ns + 3600 * NS, 100.0, 100.02))], cfg)
    snapshot = result.states[0].snapshot()
    assert "o:ord-open" not in snapshot and tracked(snapshot) == {}
    assert counter("evicted_never_completed") == evicted + 1 and result.outputs == []


def test_emitted_markers_expire_and_capacity_is_bounded() -> None:
    cfg = TcaConfig(max_orders=3, done_retention_s=60.0)
    items: list[tuple[str, Any]] = list(QUOTES)
    for i in range(6):  # six orders that never complete, on a partition that tracks at most three
        spec = OrderSpec(f"ord-{i}", "AAPL", "buy", 100.0, SUB, [], completion="canceled", completion_ns=SUB)
        items += [("trade_updates", order_updates(spec)[0])]
    evicted = counter("evicted_capacity")
    result = run(items, cfg)
    index = tracked(result.states[0].snapshot())
    assert sorted(index) == ["ord-3", "ord-4", "ord-5"] and counter("evicted_capacity") == evicted + 3
    g = groups(BUY, 2.5, 9.0)
    done = run(g["quote"] + g["distribution"] + g["fills"] + g["completion"]
               + [("quotes", quote("AAPL", BUY.fills[-1][0] + 61 * NS, 100.0, 100.02))], cfg)
    assert "o:ord-buy-1" not in done.states[0].snapshot() and tracked(done.states[0].snapshot()) == {}


def test_bad_inputs_go_to_the_dlq_with_a_reason() -> None:
    bad_dist = shortfall("x", "AAPL", "buy", 1.0, SUB, math.nan, 1.0)
    no_id = shortfall("", "AAPL", "buy", 1.0, SUB, 1.0, 1.0)
    update = order_updates(BUY)[0]
    update["payload"]["order"]["side"] = "hold"
    bad_state = state_record("AAPL", SUB, "normal")
    bad_state["event_ts"] = "yesterday"
    result = run_offline(TcaProcessor(TcaConfig()), records(
        [("shortfall", bad_dist), ("shortfall", no_id), ("trade_updates", update), ("state", bad_state)]))
    assert [reason for _, reason in result.dlq] == ["non_finite_number", "missing_field", "bad_enum", "bad_timestamp"]


def test_config_errors_name_the_variable() -> None:
    with pytest.raises(ValueError, match="TCA_WAIT_S"):
        TcaConfig.from_env({"TCA_WAIT_S": "soon"})
    with pytest.raises(ValueError, match="TCA_DRIFT_WINDOWS"):
        TcaConfig.from_env({"TCA_DRIFT_WINDOWS": "0"})
    assert TcaConfig.from_env({"TCA_WINDOW_ORDERS": "6", "TCA_WAIT_S": ""}).window_orders == 6


def _as_numbers(envelope: dict[str, Any]) -> dict[str, Any]:
    """The same update with Alpaca's decimal strings sent as JSON numbers."""
    env = {**envelope, "payload": dict(envelope["payload"])}
    payload = env["payload"]
    payload["order"] = dict(payload["order"])
    for mapping, names in ((payload, ("price", "qty", "position_qty")),
                           (payload["order"], ("qty", "filled_qty", "filled_avg_price", "limit_price"))):
        for name in names:
            if isinstance(mapping.get(name), str):
                mapping[name] = float(mapping[name])
    return env


def test_decimal_strings_and_json_numbers_give_the_same_record() -> None:
    g = groups(SELL, 1.0, 6.0)
    as_strings = run(g["quote"] + g["distribution"] + g["fills"] + g["completion"]).outputs
    numeric = [(k, _as_numbers(v)) for k, v in g["fills"] + g["completion"]]
    assert all(isinstance(v["payload"]["order"]["qty"], float) for _, v in numeric)
    assert run(g["quote"] + g["distribution"] + numeric).outputs == as_strings


def test_regime_falls_back_to_the_distribution_without_state_records() -> None:
    g = groups(BUY, 2.5, 9.0)
    quotes_only = [item for item in QUOTES if item[0] == "quotes"]
    dist = shortfall(BUY.order_id, "AAPL", "buy", 100.0, SUB, 2.5, 9.0, regime="normal")
    value = dict(run(quotes_only + [("shortfall", dist)] + g["fills"] + g["completion"]).outputs[0].value)  # type: ignore[arg-type]
    assert value["liquidity_regime"] == "normal"
    value = dict(run(quotes_only + g["distribution"] + g["fills"] + g["completion"]).outputs[0].value)  # type: ignore[arg-type]
    assert value["liquidity_regime"] is None


def test_an_order_that_fails_at_its_deadline_is_counted_and_does_not_poison_the_partition(
        monkeypatch: pytest.MonkeyPatch) -> None:
    g = groups(BUY, 2.5, 9.0)
    done_ns = BUY.fills[-1][0]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("consumers.tca.orders.divergence_values", broken)
    failed = counter("failed")
    later = [("quotes", quote("AAPL", done_ns + (30 + i) * NS, 100.0, 100.02)) for i in range(3)]
    result = run_offline(TcaProcessor(TcaConfig()), records(g["quote"] + g["fills"] + g["completion"] + later))
    assert result.dlq == [] and result.outputs == [] and counter("failed") == failed + 1
    assert result.states[0].snapshot()["o:ord-buy-1"] == {"x": done_ns + 30 * NS}


def test_a_completion_later_than_its_own_deadline_is_emitted_at_once() -> None:
    """The partition clock is already past completion + wait when the completion arrives (a producer
    beyond the lateness bound, the paper executor on a loaded machine): the order is emitted on that
    record with what it has, not held until some newer record of the partition moves the clock."""
    g = groups(BUY, 2.5, 9.0)
    done_ns = BUY.fills[-1][0]
    expired = counter("emitted_after_wait_expired")
    ahead = [("quotes", quote("AAPL", done_ns + 31 * NS, 100.0, 100.02))]
    result = run(g["quote"] + ahead + g["fills"] + g["completion"], TcaConfig(wait_s=30.0))
    assert len(result.outputs) == 1
    value = dict(result.outputs[0].value)  # type: ignore[arg-type]
    assert value["expected_missing"] is True and value["completion_event"] == "fill"
    assert value["slippage_bps"] == pytest.approx(BUY_SLIP, rel=1e-9)
    assert counter("emitted_after_wait_expired") == expired + 1
    assert tracked(result.states[0].snapshot())["ord-buy-1"] > done_ns  # only its emitted marker is left


def test_an_open_order_older_than_its_ttl_is_evicted_at_once() -> None:
    g = groups(BUY, 2.5, 9.0)
    cfg = TcaConfig(wait_s=30.0, order_ttl_s=60.0)
    evicted = counter("evicted_never_completed")
    ahead = [("quotes", quote("AAPL", SUB + 3600 * NS, 100.0, 100.02))]
    result = run(g["quote"] + ahead + g["fills"][:1], cfg)
    assert result.outputs == []
    assert counter("evicted_never_completed") == evicted + 1
    assert "ord-buy-1" not in tracked(result.states[0].snapshot())
