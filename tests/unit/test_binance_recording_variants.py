"""Binance recordings as other collectors write them, read by the one reader (producers/binance.py).

The project's recording is spot, nanosecond receive times, with ``bookTicker``. The futures
collectors (hftbacktest's ``collect-binancefutures``) write microsecond receive times, plain text
``.dat`` files, depth and trades but no ticker, and some record ``aggTrade`` instead of ``trade``.
Each variant here is the project's real recording rewritten into that form, so the expected quotes
and trades are known: the touch of the rebuilt book, the same trades, the same clock to the
microsecond. Read as before, the microsecond variant put the recording in January 1970 and the
ticker-less one had no quotes at all (so nothing could be calibrated on it)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from microexec.replay.sources import detect_kind, load_recorded_market
from producers.binance import BinanceFormatError, binance_records, receive_ns
from producers.records import BOOK, QUOTE, TRADE
from simulator.calibration import load_recorded
from tests.support.data import DATA_DIR

SPOT = sorted((DATA_DIR / "binance").glob("*.gz"))[:1]
LINES = 30_000


def _rewrite(dst: Path, *, micros: bool, ticker: bool, agg: bool) -> Path:
    with gzip.open(SPOT[0], "rt") as fh, dst.open("w") as out:
        for k, line in enumerate(fh):
            if k >= LINES:
                break
            recv, _, body = line.partition(" ")
            if not ticker and "@bookTicker" in body[:40]:
                continue
            if agg and '@trade"' in body[:40]:
                msg = json.loads(body)
                d = msg["data"]
                msg = {"stream": msg["stream"].replace("@trade", "@aggTrade"),
                       "data": {"e": "aggTrade", "E": d["E"], "s": d["s"], "a": d["t"], "p": d["p"], "q": d["q"],
                                "f": d["t"], "l": d["t"], "T": d["T"], "m": d["m"]}}
                body = json.dumps(msg) + "\n"
            out.write(f"{int(recv) // 1000 if micros else recv} {body}")
    return dst


def test_receive_times_in_any_unit_land_in_the_recordings_year() -> None:
    ns = 1_723_161_253_937_085_768
    assert receive_ns(str(ns), "x") == ns
    assert receive_ns(str(ns // 1000), "x") == ns // 1000 * 1000
    assert receive_ns(str(ns // 1_000_000), "x") == ns // 1_000_000 * 1_000_000
    with pytest.raises(BinanceFormatError, match="not epoch"):
        receive_ns("12345", "x")


def test_a_futures_style_recording_reads_like_the_spot_one(tmp_path: Path) -> None:
    spot = [r for r in binance_records(SPOT, limit=None) if r.kind == TRADE][:2000]
    fut = list(binance_records([_rewrite(tmp_path / "btcusdt.dat", micros=True, ticker=False, agg=True)]))
    trades = [r for r in fut if r.kind == TRADE][:2000]
    # same trades, same clock to the microsecond (the unit the collector wrote), ids from aggTrade's "a"
    assert [(t.ts_ns, t.value["payload"]["p"]) for t in trades] == [(s.ts_ns // 1000 * 1000, s.value["payload"]["p"])
                                                                      for s in spot]
    quotes = [r for r in fut if r.kind == QUOTE]
    books = [r for r in fut if r.kind == BOOK]
    assert quotes and books
    # a quote is the rebuilt book's touch, emitted when it changes: each equals the book at its instant
    by_time = {b.ts_ns: b.value for b in books}
    for q in quotes[:500]:
        b = by_time[q.ts_ns]
        p = q.value["payload"]
        assert (p["bp"], p["bs"], p["ap"], p["as"]) == (b["bids"][0]["price"], b["bids"][0]["size"],
                                                        b["asks"][0]["price"], b["asks"][0]["size"])
    assert len(quotes) <= len(books)


def test_a_futures_style_recording_calibrates_and_replays(tmp_path: Path) -> None:
    dat = _rewrite(tmp_path / "btcusdt.dat", micros=True, ticker=False, agg=False)
    assert detect_kind([dat]) == "binance"
    flow = load_recorded([dat])
    assert len(flow) > 1000 and flow.horizon < 400  # seconds of 2024, not a millisecond of 1970
    market = load_recorded_market([dat])
    assert market.kind == "binance" and market.symbols == ["BTCUSDT"] and market.unit_of("BTCUSDT") == 1e-5
