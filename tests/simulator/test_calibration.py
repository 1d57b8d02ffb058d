"""Calibration: message mapping by hand, bad inputs, and real data end to end (LOBSTER AMZN, and
Binance BTCUSDT top of book re-wrapped as Torghut envelopes)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from simulator.calibration import (
    LobsterFormatError,
    TorghutFormatError,
    calibrate,
    flow_from_envelopes,
    load_lobster,
    load_recorded,
    load_torghut,
)
from simulator.calibration.lobster import map_lobster
from simulator.market import MarketModel, simulate_market
from simulator.market.types import (
    CANCEL_ASK,
    CANCEL_BID,
    LIMIT_ASK_INSIDE,
    LIMIT_ASK_TOUCH,
    LIMIT_BID_DEEP,
    LIMIT_BID_INSIDE,
    LIMIT_BID_TOUCH,
    MARKET_BUY,
    MARKET_SELL,
    N_DIMS,
)
from tests.support.data import DATA_DIR

DATA = DATA_DIR
AMZN = DATA / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
BTC = DATA / "binance" / "spot_btcusdt_20240808.gz"


def test_lobster_mapping_by_hand():
    # Book before each message: ask 100.10 x 100, bid 100.00 x 100 (LOBSTER prices x 10,000).
    book = np.tile([1_001_000, 100, 1_000_000, 100], (9, 1)).astype(float)
    msg = np.array([
        [1.0, 1, 1, 10, 1_000_000, 1],   # first message: no book before it, skipped
        [2.0, 1, 2, 10, 1_000_000, 1],   # buy limit at the bid: touch
        [3.0, 1, 3, 10, 1_000_500, 1],   # buy limit inside the spread
        [4.0, 1, 4, 10, 999_700, 1],     # buy limit 3 ticks behind: deep, offset 3
        [5.0, 1, 5, 10, 1_001_000, -1],  # sell limit at the ask: touch
        [6.0, 1, 6, 10, 1_000_900, -1],  # sell limit inside
        [7.0, 3, 2, 10, 1_000_000, 1],   # delete a bid: cancel bid
        [8.0, 4, 9, 30, 1_001_000, -1],  # execution of a sell limit: buyer-initiated
        [8.0, 4, 8, 20, 1_001_000, -1],  # same time, same direction: merged into one market buy of 50
    ], dtype=float)
    msg = np.vstack([msg, [[9.0, 5, 0, 40, 1_000_000, 1], [9.5, 2, 5, 5, 1_001_000, -1]]])
    book = np.vstack([book, book[:2]])
    f = map_lobster(msg, book, "TEST", tick_size=0.01)
    assert f.dims.tolist() == [LIMIT_BID_TOUCH, LIMIT_BID_INSIDE, LIMIT_BID_DEEP, LIMIT_ASK_TOUCH,
                               LIMIT_ASK_INSIDE, CANCEL_BID, MARKET_BUY, MARKET_SELL, CANCEL_ASK]
    assert f.sizes.tolist() == [10, 10, 10, 10, 10, 10, 50, 40, 5]
    assert f.deep_offsets[0].tolist() == [3]
    assert f.diagnostics["merged_executions"] == 1
    assert f.spreads[0] == 10 and f.ref_price == pytest.approx(100.05)
    assert np.all(np.diff(f.times) > 0)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_recorded([tmp_path / "nope_message_1.csv"])
    bad = tmp_path / "X_2012-06-21_0_1_message_1.csv"
    bad.write_text("1.0,1,2,3,4\n")
    (tmp_path / "X_2012-06-21_0_1_orderbook_1.csv").write_text("1,2,3,4\n")
    with pytest.raises(LobsterFormatError, match="expected 6 columns"):
        load_lobster(bad)
    j = tmp_path / "q.jsonl"
    j.write_text(json.dumps({"symbol": "X", "payload": {"foo": 1}}) + "\n")
    with pytest.raises(TorghutFormatError, match="neither a quote"):
        load_torghut([j])


def test_torghut_mapping_by_hand(tmp_path):
    def q(t, bp, bs, ap, as_):
        return {"symbol": "X", "payload": {"bp": bp, "bs": bs, "ap": ap, "as": as_, "t": t}}

    def tr(t, p, s):
        return {"symbol": "X", "payload": {"p": p, "s": s, "t": t}}

    rows = [
        q("2026-02-21T14:41:00.000Z", 10.00, 100, 10.05, 100),
        q("2026-02-21T14:41:00.100Z", 10.00, 300, 10.05, 100),   # bid +200 at same price: limit bid touch
        tr("2026-02-21T14:41:00.200Z", 10.05, 60),               # at the ask: market buy
        q("2026-02-21T14:41:00.300Z", 10.00, 300, 10.05, 40),    # ask -60, explained by the trade: nothing
        q("2026-02-21T14:41:00.400Z", 10.00, 300, 10.03, 50),    # ask improves: limit ask inside
        q("2026-02-21T14:41:00.500+00:00", 10.00, 250, 10.03, 50),  # bid -50, no trade: cancel bid
        tr("2026-02-21T14:41:00.600Z", 10.00, 250),              # at the bid: market sell
        q("2026-02-21T14:41:00.700Z", 9.99, 500, 10.03, 50),     # bid level traded away: no cancel
    ]
    p = tmp_path / "x.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    f = load_torghut([p])
    assert f.dims.tolist() == [LIMIT_BID_TOUCH, MARKET_BUY, LIMIT_ASK_INSIDE, CANCEL_BID, MARKET_SELL]
    assert f.sizes.tolist() == [200, 60, 50, 50, 250]
    assert f.times[0] == pytest.approx(0.1) and f.times[-1] == pytest.approx(0.6)


def test_torghut_update_moving_both_sides_maps_the_retreat_first(tmp_path):
    """A one-tick book whose bid steps up to the old ask: the ask left first, so the new bid is an
    inside-spread order in a two-tick book, never one in a one-tick book (where none can exist)."""
    def q(t, bp, bs, ap, as_):
        return {"symbol": "X", "payload": {"bp": bp, "bs": bs, "ap": ap, "as": as_, "t": t}}

    rows = [q("2026-02-21T14:41:00.000Z", 10.00, 100, 10.01, 100),
            q("2026-02-21T14:41:00.100Z", 10.01, 30, 10.02, 70),   # ask pulled, bid steps into the gap
            q("2026-02-21T14:41:00.200Z", 10.00, 50, 10.01, 40)]   # bid pulled, ask steps down: bid first
    p = tmp_path / "x.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    f = load_torghut([p])
    assert f.dims.tolist() == [CANCEL_ASK, LIMIT_BID_INSIDE, CANCEL_BID, LIMIT_ASK_INSIDE]
    assert f.spreads.tolist() == [1, 2, 1, 2]
    assert f.diagnostics["inside_after_retreat"] == 2


def _binance_as_torghut(src: Path, dst: Path, max_records: int) -> None:
    """Real Binance best-bid/offer and trade messages re-wrapped in Torghut's envelope."""
    n = 0
    with gzip.open(src, "rt") as fh, dst.open("w") as out:
        for line in fh:
            ts, _, body = line.partition(" ")
            if not body.startswith('{"stream"'):
                continue
            msg = json.loads(body)
            d = msg["data"]
            t = str(np.datetime64(int(ts), "ns")) + "Z"
            if msg["stream"].endswith("bookTicker"):
                payload = {"S": "BTCUSD", "bp": d["b"], "bs": d["B"], "ap": d["a"], "as": d["A"], "t": t}
            elif msg["stream"].endswith("@trade"):
                payload = {"S": "BTCUSD", "p": d["p"], "s": d["q"], "t": t}
            else:
                continue
            out.write(json.dumps({"channel": "quotes" if "bp" in payload else "trades",
                                  "symbol": "BTCUSD", "payload": payload}) + "\n")
            n += 1
            if n >= max_records:
                break


def _check_model(cal, counts_min: int = 1) -> None:
    m = cal.model
    assert isinstance(m, MarketModel)
    for arr in (m.hawkes.mu, m.hawkes.alpha, m.hawkes.beta):
        assert np.all(np.isfinite(arr))
    assert m.hawkes.spectral_radius() < 1.0
    for d in cal.dims:
        if d.fitted:
            assert d.n_events >= counts_min and math.isfinite(d.ks_statistic) and 0 <= d.ks_pvalue <= 1
    run = simulate_market(m, 120.0, 1, check_every=50)
    assert run.invariant_code == 0 and run.stats["events"] > 0


def test_calibrate_real_lobster_amzn(tmp_path):
    # The first 15 minutes of the day keep the test short; the full day is in docs/validation.md.
    flow = load_recorded([AMZN], end_s=34200 + 900)
    assert flow.counts()[[0, 1, 2, 3, 4, 5, 8, 9]].min() > 50
    cal = calibrate(flow)
    _check_model(cal, counts_min=50)
    assert [d.fitted for d in cal.dims] == [True] * 6 + [False, False] + [True, True]  # level 1: no deep flow
    out = tmp_path / "amzn.json"
    cal.model.save(out)
    again = MarketModel.load(out)
    assert np.array_equal(again.hawkes.beta, cal.model.hawkes.beta)
    assert again.metadata["symbol"] == "AMZN" and again.tick_size == 0.01
    assert len(again.marks) == N_DIMS


def test_calibrate_real_binance_through_torghut_envelopes(tmp_path):
    src = tmp_path / "btc.jsonl"
    _binance_as_torghut(BTC, src, 6000)
    flow = load_recorded([src], size_unit=1e-5)
    assert flow.counts()[MARKET_BUY] > 20 and flow.counts()[LIMIT_ASK_TOUCH] > 20
    _check_model(calibrate(flow))


def test_torghut_json_units_are_read_off_the_data(tmp_path):
    """Real BTC quotes and trades as a Torghut dump: without --tick-size/--size-unit the mapping is the
    one with the venue's 0.01 tick and 1e-5 BTC unit, not whole BTC (which made every size one unit)."""
    src = tmp_path / "btc.jsonl"
    _binance_as_torghut(BTC, src, 800)
    inferred, given = load_recorded([src]), load_recorded([src], tick_size=0.01, size_unit=1e-5)
    assert inferred.tick_size == pytest.approx(0.01)
    assert np.array_equal(inferred.dims, given.dims) and np.array_equal(inferred.sizes, given.sizes)
    assert not np.array_equal(load_torghut([src]).sizes, given.sizes)  # whole units, the old default


def test_a_dump_of_several_symbols_is_calibrated_one_symbol_at_a_time(tmp_path):
    """Two symbols' quotes read as one book were calibrated silently (every switch between them a
    fake order event); now the mix is refused, and ``symbol`` picks one, mapped as it is alone."""
    src, other, both = tmp_path / "btc.jsonl", tmp_path / "eth.jsonl", tmp_path / "both.jsonl"
    _binance_as_torghut(BTC, src, 800)
    lines = src.read_text().splitlines()
    renamed = [line.replace("BTCUSD", "ETHUSD") for line in lines]
    other.write_text("\n".join(renamed) + "\n")
    both.write_text("\n".join(a for pair in zip(lines, renamed, strict=True) for a in pair) + "\n")
    with pytest.raises(TorghutFormatError, match="2 symbols"):
        load_recorded([both])
    picked, alone = load_recorded([both], symbol="BTCUSD"), load_recorded([src])
    assert np.array_equal(picked.dims, alone.dims) and np.array_equal(picked.sizes, alone.sizes)
    with pytest.raises(TorghutFormatError, match="no quote or trade of XYZ"):
        load_recorded([both], symbol="XYZ")


def test_in_memory_envelopes_map_like_files(tmp_path):
    src = tmp_path / "btc.jsonl"
    _binance_as_torghut(BTC, src, 800)
    envs = [json.loads(line) for line in src.read_text().splitlines()]
    from_file = load_torghut([src], size_unit=1e-5)
    from_mem = flow_from_envelopes(envs, size_unit=1e-5)
    assert np.array_equal(from_file.times, from_mem.times) and np.array_equal(from_file.dims, from_mem.dims)
    assert np.array_equal(from_file.sizes, from_mem.sizes)
