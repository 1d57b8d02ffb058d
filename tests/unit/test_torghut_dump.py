"""Torghut JSON dumps as a recorded source: channels told apart, event-time order, clear refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from producers.records import QUOTE, TRADE
from producers.torghut_dump import TRADE_UPDATES, TorghutDumpError, torghut_dump_records
from producers.torghut_envelopes import quote_envelope, trade_envelope, trade_update_envelope

S = 1_000_000_000
T0 = 1_767_000_000 * S


def _dump(tmp_path: Path) -> Path:
    envs = [trade_envelope("NVDA", T0 + 2 * S, 100.02, 5.0),
            quote_envelope("NVDA", T0, 100.0, 300.0, 100.02, 200.0),
            trade_update_envelope("NVDA", T0 + S, "new", order_id="o-1"),
            {"channel": "ta.signals", "symbol": "NVDA", "payload": {"x": 1}, "eventTs": "2026-01-01T00:00:00Z"}]
    path = tmp_path / "dump.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in envs))
    return path


def test_a_dump_gives_quotes_trades_and_trade_updates_in_event_time(tmp_path: Path) -> None:
    records = torghut_dump_records([_dump(tmp_path)])
    assert [(r.kind, r.ts_ns - T0) for r in records] == [(QUOTE, 0), (TRADE_UPDATES, S), (TRADE, 2 * S)]
    assert all(r.symbol == "NVDA" for r in records)
    assert records[0].value["payload"]["bp"] == 100.0  # the envelope goes through untouched
    market = torghut_dump_records([_dump(tmp_path)], kinds=(QUOTE, TRADE))
    assert [r.kind for r in market] == [QUOTE, TRADE]


def test_a_json_array_dump_reads_like_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps([quote_envelope("AAPL", T0, 200.0, 1.0, 200.02, 1.0)]))
    assert [r.symbol for r in torghut_dump_records([path])] == ["AAPL"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    (json.dumps({"symbol": "X"}), "no payload object"),
    (json.dumps({"channel": "quotes", "payload": {"bp": 1, "ap": 2}, "eventTs": "2026-01-01T00:00:00Z"}),
     "no symbol"),
    (json.dumps({"channel": "quotes", "symbol": "X", "payload": {"bp": 1, "ap": 2}, "eventTs": "yesterday"}),
     "dump.jsonl\\[0\\]"),
    (json.dumps({"channel": "ta.signals", "symbol": "X", "payload": {}}), "no quotes, trades, trade_updates"),
])
def test_bad_dumps_are_refused_naming_the_file_and_record(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "dump.jsonl"
    path.write_text(content + "\n")
    with pytest.raises(TorghutDumpError, match=message):
        torghut_dump_records([path])


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TorghutDumpError, match="no such file"):
        torghut_dump_records([tmp_path / "absent.jsonl"])
