"""`microexec replay` on a Torghut dump of several venues' symbols, as Torghut's own topics hold them.

Built from the real recordings in the project: the AMZN LOBSTER slice (shares, a 0.01 tick, hidden
trades at half cents) and the Binance BTCUSDT slice (fractional BTC sizes to five decimals), re-timed
onto one clock, plus a symbol with a handful of quotes. Each symbol must get its own model, tick and
size unit; the thin one no orders, and a note that says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from microexec.cli import main
from microexec.replay.sources import MarketInputError, load_recorded_market
from producers.binance import binance_records
from producers.lobster import lobster_records
from producers.records import QUOTE, TRADE
from streams.timeutil import format_ts_ns, parse_ts_ns
from tests.support.data import DATA_DIR

AMZN = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"


def _retimed(envelopes: list[dict[str, Any]], t0_ns: int, symbol: str) -> list[dict[str, Any]]:
    first = parse_ts_ns(envelopes[0]["eventTs"])
    out = []
    for env in envelopes:
        env = json.loads(json.dumps(env))
        ts = format_ts_ns(parse_ts_ns(env["eventTs"]) - first + t0_ns)
        env["eventTs"] = env["ingestTs"] = env["payload"]["t"] = ts
        env["symbol"] = env["payload"]["S"] = symbol
        out.append(env)
    return out


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t0 = parse_ts_ns("2026-11-30T14:30:00Z")
    amzn = _retimed([r.value for r in lobster_records(AMZN, limit=3000)], t0, "AMZN")
    btc = _retimed([r.value for r in binance_records(sorted((DATA_DIR / "binance").glob("*.gz")), limit=8000)
                    if r.kind in (QUOTE, TRADE)], t0 + 5_000_000_000, "BTC-PERP")
    thin = _retimed([e for e in amzn if "bp" in e["payload"]][:4], t0 + 60_000_000_000, "THIN")
    records = sorted(amzn + btc + thin, key=lambda e: parse_ts_ns(e["eventTs"]))
    path = tmp_path_factory.mktemp("dump") / "torghut.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in records))
    return path


def test_each_symbol_gets_its_own_model_tick_and_size_unit(dump: Path) -> None:
    market = load_recorded_market([dump])
    assert market.kind == "torghut" and sorted(market.symbols) == ["AMZN", "BTC-PERP"]
    assert {r.symbol for r in market.feed} == {"AMZN", "BTC-PERP", "THIN"}  # the feed keeps every record
    assert market.unit_of("BTC-PERP") == pytest.approx(1e-5) and market.unit_of("AMZN") == 1.0
    amzn, _ = market.model_at("AMZN", market.start_ns)
    btc, _ = market.model_at("BTC-PERP", market.start_ns)
    # AMZN's half-cent hidden trades do not make its tick 0.005: only quotes say what the tick is
    assert amzn.tick_size == pytest.approx(0.01) and btc.tick_size == pytest.approx(0.01)
    assert amzn is not btc and amzn.metadata["n_events"] != btc.metadata["n_events"]
    assert any(n.startswith("THIN: no orders") for n in market.notes)
    names = [d.name for d in market.calibration]
    assert "AMZN market_buy" in names and "BTC-PERP market_buy" in names


def test_replay_places_orders_only_where_each_symbol_has_a_market(dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["replay", "--market", str(dump), "--generate", "16", "--horizon", "10:40", "--out", str(out)]) == 0
    doc = json.loads((out / "gate_evidence.json").read_text())
    assert sorted(doc["market"]["symbols"]) == ["AMZN", "BTC-PERP"]
    orders = [json.loads(line) for line in (out / "orders.jsonl").read_text().splitlines()]
    assert {o["symbol"] for o in orders} == {"AMZN", "BTC-PERP"}
    feed_span: dict[str, list[int]] = {}
    for line in dump.read_text().splitlines():
        env = json.loads(line)
        ts = parse_ts_ns(env["eventTs"])
        lo_hi = feed_span.setdefault(env["symbol"], [ts, ts])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], ts), max(lo_hi[1], ts)
    for o in orders:  # inside its own symbol's recording, horizon included
        lo, hi = feed_span[o["symbol"]]
        assert lo < o["submitted_ns"] and o["submitted_ns"] + o["horizon_s"] * 1e9 <= hi
    # sizes follow each symbol's own volume: BTC orders count 1e-5 BTC units, AMZN orders shares
    btc = [o["quantity"] for o in orders if o["symbol"] == "BTC-PERP"]
    amzn = [o["quantity"] for o in orders if o["symbol"] == "AMZN"]
    assert min(btc) > 10 * max(amzn)
    assert doc["run"]["decisions"].get("stale_state", 0) == 0


def test_a_dump_with_no_symbol_that_calibrates_is_refused(tmp_path: Path) -> None:
    t0 = parse_ts_ns("2026-11-30T14:30:00Z")
    quotes = _retimed([r.value for r in lobster_records(AMZN, limit=200) if r.kind == QUOTE][:3], t0, "A")
    quotes += _retimed([r.value for r in lobster_records(AMZN, limit=200) if r.kind == QUOTE][:3], t0, "B")
    path = tmp_path / "thin.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in quotes))
    with pytest.raises(MarketInputError, match="no symbol of the market input could be calibrated"):
        load_recorded_market([path])
