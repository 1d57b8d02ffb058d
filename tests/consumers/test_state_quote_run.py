"""The state consumer's run path against its per-record path.

``StateProcessor.process_run`` must give exactly (bit for bit) the states and records that
``process`` gives one record at a time, or decline; these tests feed both the same records and
also check that the run path really was taken, so a run path that always declined would fail.
(Both paths fold quotes and trades with the same compiled loop; what differs is how runs are cut,
decoded as columns, and how the state is kept between them. The compiled fold against the
readable reference: test_state_reference.py.)
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.state.config import EmitThresholds, RegimeThresholds, StateConfig
from consumers.state.processor import StateProcessor
from producers.torghut_envelopes import quote_envelope, trade_envelope, trade_update_envelope
from streams.processor import EncodedRecord, InvalidRecord, RawRecord, SourceRecord
from streams.serde import AvroEncoder, decode_json
from streams.state import TransactionalState, canonical_json
from streams.timeutil import format_ts_ns
from tests.support.synthetic_market import synthetic_market
from torghut_domain.envelopes import parse_trade
from torghut_domain.fast_path import (
    _QUOTE_DECODER,
    NO_TIME,
    decode_quote,
    decode_quote_columns,
    decode_trade_columns,
)
from torghut_domain.topics import topic

S = 1_000_000_000
MS = 1_000_000
T0 = 1_767_000_000 * S
# Short warm-up and dwell, frequent emits: regime switches, material changes and heartbeats all happen.
LIVELY = StateConfig(
    regime=RegimeThresholds(warmup_s=1.0, escalate_dwell_s=0.2, relax_dwell_s=0.5),
    emit=EmitThresholds(min_interval_s=0.05, heartbeat_s=1.0),
    baseline_tau_s=20.0, vol_tau_s=5.0, trade_rate_tau_s=5.0, fill_hazard_horizon_s=2.0)


def _decoded(record: SourceRecord, raw: bytes) -> Any:
    """What the runtime's decoders hand ``process``: a Quote, a JSON dict, or for the L2 topic the
    Avro record's dict (the same fields, so JSON stands in for it here)."""
    return decode_quote(raw) if record.topic == topic("quotes") else decode_json(raw)


_STATE_AVRO = AvroEncoder("microstructure_state_v1", "state", None)


def encoded_as_its_dict(value: Any) -> Any:
    """A run's output record (``EncodedRecord``): its Avro body must be the generic encoder's bytes
    for its dict, which is what the runtime would otherwise have sent."""
    if isinstance(value, EncodedRecord):
        assert value.body == _STATE_AVRO.encode(dict(value.fields()))
    return value


def _outputs(emits: Any) -> list[tuple[str, str, int | None]]:
    return [(e.key, canonical_json(encoded_as_its_dict(e.value)), e.timestamp_ms) for e in emits]


def _process(processor: StateProcessor, record: SourceRecord, state: TransactionalState) -> list[Any]:
    """One record as the runtime does it: its records, or its DLQ reason with the state rolled back."""
    state.begin_record()
    try:
        return _outputs(processor.process(record, state))
    except InvalidRecord as exc:
        state.rollback_record()
        return [("dlq", exc.reason)]


def run_both(records: list[SourceRecord], config: StateConfig,
             split: int = 50) -> tuple[list[Any], list[Any], dict[str, Any], dict[str, Any], int]:
    """(per-record outputs, run outputs, per-record state, run state, quotes taken by runs).

    Runs are maximal stretches of consecutive quotes and trades, cut every ``split`` records (as the
    runtime cuts them at batch boundaries); the other records go through ``process`` on both sides.
    "Taken" counts the quotes of runs the compiled path accepted."""
    raws = [json.dumps(r.value).encode() for r in records]
    quotes = topic("quotes")
    one, one_state = StateProcessor(config), TransactionalState()
    expected: list[Any] = []
    for record, raw in zip(records, raws, strict=True):
        expected += _process(one, record._replace(value=_decoded(record, raw)), one_state)
    one_state.commit()

    runner, run_state = StateProcessor(config), TransactionalState()
    got: list[Any] = []
    taken = 0
    run_topics = runner.run_topics
    i = 0
    while i < len(records):
        j = i
        while j < len(records) and records[j].topic in run_topics and j - i < split:
            j += 1
        if j > i:
            chunk = [RawRecord(r.topic, r.offset, r.timestamp_ms, None, raws[k])
                     for k, r in enumerate(records[i:j], i)]
            run_state.begin_record()
            result = runner.process_run(records[i].partition, chunk, run_state)
            if result is not None:
                taken += sum(r.topic == quotes for r in records[i:j])
                got += _outputs(emit for _, emit in result)
                i = j
                continue
            run_state.rollback_record()
            j = i + 1
        for k in range(i, max(j, i + 1)):
            got += _process(runner, records[k]._replace(value=_decoded(records[k], raws[k])), run_state)
        i = max(j, i + 1)
    run_state.commit()
    snap = {k: canonical_json(v) for k, v in one_state.snapshot().items()}
    run_snap = {k: canonical_json(v) for k, v in run_state.snapshot().items()}
    return expected, got, snap, run_snap, taken


def test_synthetic_market_with_trades_and_orders_is_bit_identical() -> None:
    records = list(synthetic_market([f"S{i}" for i in range(7)], 20_000, seed=3, step_ms=2.0, trade_every=9,
                                    order_every=31))
    expected, got, snap, run_snap, taken = run_both(records, LIVELY)
    reasons = {json.loads(v)["emit_reason"] for _, v, _ in expected}
    assert {"first", "material_change"} <= reasons
    assert got == expected
    assert run_snap == snap
    quotes = sum(r.topic == topic("quotes") for r in records)
    assert taken > 0.9 * quotes  # the compiled path did the work, it did not decline


def test_default_config_over_a_long_feed_with_regime_changes() -> None:
    """Spread blow-ups held for seconds after the warm-up: the regime escalates and relaxes."""
    rng = random.Random(5)
    items = []
    mid = 100.0
    for n in range(6_000):
        t = T0 + n * 20 * MS
        mid = round(mid + rng.choice((-0.01, 0.0, 0.01)), 2)
        wide = 3_000 <= n < 3_400 or 4_500 <= n < 4_520
        half = 0.2 if wide else 0.01 * rng.choice((1, 2))
        items.append(SourceRecord(topic("quotes"), 0, n, n, "X", quote_envelope(
            "X", t, round(mid - half, 2), float(rng.randrange(1, 9) * 100), round(mid + half, 2),
            float(rng.randrange(1, 9) * 100))))
    expected, got, snap, run_snap, taken = run_both(items, StateConfig(), split=500)
    assert "regime_change" in {json.loads(v)["emit_reason"] for _, v, _ in expected}
    assert (got, run_snap) == (expected, snap)
    assert taken == len(items)


def test_steady_quotes_give_heartbeats() -> None:
    items = [SourceRecord(topic("quotes"), 0, n, n, "H", quote_envelope("H", T0 + n * 100 * MS, 20.0, 300.0, 20.01,
                                                                      300.0)) for n in range(400)]
    expected, got, snap, run_snap, taken = run_both(items, LIVELY, split=64)
    assert [json.loads(v)["emit_reason"] for _, v, _ in expected].count("heartbeat") >= 30
    assert (got, run_snap, taken) == (expected, snap, len(items))


def test_runs_decline_what_the_fast_path_cannot_vouch_for() -> None:
    """A run holding one bad quote (crossed) is declined whole; the per-record path then refuses it."""
    good = [quote_envelope("A", T0 + i * MS, 10.0, 100.0, 10.01, 100.0) for i in range(5)]
    crossed = quote_envelope("A", T0 + 9 * MS, 10.02, 100.0, 10.01, 100.0)
    raws = [json.dumps(v).encode() for v in [*good, crossed]]
    assert decode_quote_columns(raws[:5]) is not None
    assert decode_quote_columns(raws) is None
    assert decode_quote_columns([b'{"a":1}\n', *raws[:2]]) is None  # a record with a newline
    assert decode_quote_columns([raws[0] + b" " + raws[1], raws[2]]) is None  # two envelopes in one record
    # A value straddling two records: neither record is JSON by itself, their join is two envelopes.
    inner = json.dumps(good[1]["payload"]).encode()
    rest = json.dumps({k: v for k, v in good[1].items() if k != "payload"}).encode()[1:]
    straddle = [raws[0] + b' {"payload": ', inner + b", " + rest]
    assert straddle[1][:1] == b"{" and straddle[1][-1:] == b"}" and b"\n" not in b"".join(straddle)
    assert len(_QUOTE_DECODER.decode_lines(b"\n".join(straddle))) == 2  # what the decoder alone would take
    assert decode_quote_columns(straddle) is None
    assert decode_quote_columns([raws[0][:-1] + b'"}', raws[1]]) is None  # a string left open at the boundary
    assert decode_quote_columns([raws[0].replace(b", ", b",\n ", 1), raws[1]]) is not None  # whitespace inside
    processor = StateProcessor()
    state = TransactionalState()
    chunk = [RawRecord(topic("quotes"), i, 0, None, raw) for i, raw in enumerate(raws)]
    assert processor.process_run(0, chunk, state) is None
    assert processor.process_run(0, chunk[:5], state) is not None
    other = [RawRecord(topic("trade_updates"), 9, 0, None, raws[0]), *chunk[:5]]
    assert processor.process_run(0, other, state) is None  # not a run topic


quote_step = st.tuples(
    st.integers(min_value=-50, max_value=400),  # event-time step in ms (negative: a late quote)
    st.integers(min_value=1, max_value=5),  # half-spread in cents
    st.integers(min_value=-3, max_value=3),  # mid move in cents
    st.floats(min_value=1.0, max_value=5_000.0),  # bid size
    st.floats(min_value=1.0, max_value=5_000.0),  # ask size
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from([None, 0.0, 3.0, 250.0]),  # ingest lag (None: no ingest time)
    st.sampled_from(["quote", "quote", "quote", "quote", "trade", "ack", "fill", "book"]),
)


def feed_from_steps(steps: list[tuple[Any, ...]], *, deep_book: bool = True) -> list[SourceRecord]:
    """The records a list of ``quote_step`` draws stands for (quotes, trades, own order events and L2
    snapshots over three symbols); ``deep_book`` gives the snapshots a second bid level."""
    t = T0
    mids = {"A": 50.0, "B": 120.0, "C": 7.5}
    records = []
    for n, (dt_ms, half, move, bs, as_, symbol, lag, kind) in enumerate(steps):
        t += dt_ms * MS
        mid = mids[symbol] = max(1.0, round(mids[symbol] + move * 0.01, 2))
        bid, ask = round(mid - half * 0.01, 2), round(mid + half * 0.01, 2)
        if kind == "quote":
            value = quote_envelope(symbol, t, bid, bs, ask, as_, ingest_lag_ms=lag, seq=n)
            name = "quotes"
        elif kind == "trade":
            value = trade_envelope(symbol, t, bid if n % 2 else ask, 100.0, trade_id=n, seq=n)
            name = "trades"
        elif kind == "book":  # an L2 snapshot: depth_top5_usd then comes from it while it is fresh
            value = {"symbol": symbol, "event_ts": format_ts_ns(t), "venue": "test", "sequence": n,
                     "bids": [{"price": bid, "size": bs}] + ([{"price": round(bid - 0.01, 2), "size": 700.0}]
                                                            if deep_book else []),
                     "asks": [{"price": ask, "size": as_}]}
            name = "book_l2"
        else:
            event = "new" if kind == "ack" else "fill"
            value = trade_update_envelope(symbol, t, event, order_id=f"o{n}", order_type="limit",
                                          filled_qty=0.0 if event == "new" else 100.0,
                                          fill_qty=None if event == "new" else 100.0,
                                          fill_price=None if event == "new" else bid,
                                          submitted_at_ns=t - 30 * MS, limit_price=bid)
            name = "trade_updates"
        records.append(SourceRecord(topic(name), 0, n, n, symbol, value))
    return records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(quote_step, min_size=1, max_size=120), st.integers(min_value=1, max_value=40))
def test_random_feeds_are_bit_identical(steps: list[tuple[Any, ...]], split: int) -> None:
    records = feed_from_steps(steps)
    config = replace(LIVELY, regime=replace(LIVELY.regime, warmup_s=0.0))
    expected, got, snap, run_snap, taken = run_both(records, config, split=split)
    assert got == expected
    assert run_snap == snap
    if ("dlq", "late_quote") not in expected:  # a run with a late quote is declined: it goes record by record
        assert taken == sum(r.topic == topic("quotes") for r in records)


def test_timestamp_text_variants_match_the_per_record_parse() -> None:
    """Fraction widths 0-9 digits and no ingest time: same values as decode_quote, or a decline."""
    rng = random.Random(11)
    for width in (0, 1, 3, 6, 9):
        raws = []
        for _ in range(30):
            env = quote_envelope("Z", T0 + rng.randrange(10**12), 10.0, 1.0, 10.5, 2.0, ingest_lag_ms=None)
            text = format_ts_ns(T0 + rng.randrange(10**15))[:19]
            digits = "".join(rng.choice("0123456789") for _ in range(width))
            env["payload"]["t"] = text + (f".{digits}" if width else "") + "Z"
            raws.append(json.dumps(env).encode())
        for size in (len(raws), 200):  # per-string parsing, and the numpy column (>= 128 strings)
            batch = (raws * 7)[:size]
            cols = decode_quote_columns(batch)
            assert cols is not None
            for i, raw in enumerate(batch):
                q = decode_quote(raw)
                assert q.event_ts_ns == int(cols.times[i, 0])
                assert q.ingest_ts_ns is None and cols.times[i, 1] == NO_TIME


def test_rows_mirror_the_state_layout() -> None:
    """A key added to the state dict must be added to the rows too (or the fold would drop it)."""
    from consumers.state import layout
    from consumers.state.processor import STATE_LAYOUT_VERSION, new_symbol_state

    assert layout.LAYOUT_VERSION == STATE_LAYOUT_VERSION
    assert set(new_symbol_state()) == {"v", *layout.FLOAT_KEYS, *layout.INT_KEYS, *layout.CODE_KEYS}
    floats, ints = layout.to_rows([new_symbol_state()])
    rows = layout.SymbolRows(floats[0], ints[0])
    assert rows.as_dict() == new_symbol_state()


def test_trade_columns_match_parse_trade_or_decline() -> None:
    rng = random.Random(4)
    envelopes = [trade_envelope("T", T0 + rng.randrange(10**12), round(10 + rng.random(), 2),
                                float(rng.randrange(1, 900)), trade_id=i, ingest_lag_ms=rng.choice([None, 2.0]))
                 for i in range(40)]
    raws = [json.dumps(env).encode() for env in envelopes]
    cols = decode_trade_columns(raws)
    assert cols is not None
    for i, env in enumerate(envelopes):
        trade = parse_trade(env)
        ingest = int(cols.times[i, 1])
        assert (cols.symbols[i], int(cols.times[i, 0]), None if ingest == NO_TIME else ingest,
                float(cols.values[i, 0]), float(cols.values[i, 1])) == (
            trade.symbol, trade.event_ts_ns, trade.ingest_ts_ns, trade.price, trade.size)
    for change in ({"p": "10.5"}, {"s": 0}, {"p": -1.0}, {"t": "not a time"}):
        broken = json.loads(raws[3])
        broken["payload"].update(change)
        assert decode_trade_columns([raws[0], json.dumps(broken).encode()]) is None


def test_l2_depth_between_runs_is_used_by_the_runs() -> None:
    """A book snapshot between two runs: the second run's records report its depth, as per record."""
    items: list[SourceRecord] = []
    for n in range(60):
        t = T0 + n * 50 * MS
        if n == 20:
            book = {"symbol": "D", "event_ts": format_ts_ns(t), "venue": "test", "sequence": 1,
                    "bids": [{"price": 9.99, "size": 5_000.0}], "asks": [{"price": 10.01, "size": 4_000.0}]}
            items.append(SourceRecord(topic("book_l2"), 0, n, n, "D", book))
        else:
            items.append(SourceRecord(topic("quotes"), 0, n, n, "D", quote_envelope(
                "D", t, 9.99, 100.0 + n, 10.01, 120.0)))
    expected, got, snap, run_snap, taken = run_both(items, LIVELY, split=64)
    assert (got, run_snap) == (expected, snap)
    assert taken == len(items) - 1
    sources = [json.loads(v)["depth_source"] for _, v, _ in expected]
    assert "l2_book" in sources and sources[0] == "top_of_book"


def test_long_runs_with_offset_timestamps_are_still_taken() -> None:
    """``+00:00`` instead of ``Z``: the numpy column does not take that shape, the per-string parse does,
    so a long run is still decoded at once rather than declined down to record by record."""
    raws = []
    for i in range(200):
        env = quote_envelope("O", T0 + i * MS, 10.0, 1.0, 10.5, 2.0)
        env["payload"]["t"] = env["payload"]["t"].replace("Z", "+00:00")
        raws.append(json.dumps(env).encode())
    cols = decode_quote_columns(raws)
    assert cols is not None
    assert [int(t) for t in cols.times[:, 0]] == [decode_quote(raw).event_ts_ns for raw in raws]
