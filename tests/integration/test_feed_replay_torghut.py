"""`microexec feed replay --torghut`: a Torghut JSON dump goes back onto Torghut's topics as it was
published (each channel to its topic, keyed by symbol, Kafka time = event time, bytes unchanged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from microexec.sample_data import ROOT
from producers.torghut_envelopes import quote_envelope, trade_envelope, trade_update_envelope
from streams.settings import Settings
from tests.support.kafka_io import create_topics, read_all

pytestmark = pytest.mark.integration
S = 1_000_000_000
T0 = 1_767_000_000 * S


def test_a_torghut_dump_replays_onto_its_topics(kafka_settings: Settings, unique: str, tmp_path: Path) -> None:
    names = {key: f"{key}-{unique}" for key in ("quotes", "trades", "trade_updates", "book_l2")}
    create_topics(kafka_settings, [(name, 3, False) for name in names.values()])
    envs = []
    for i, symbol in enumerate(("NVDA", "AAPL", "MSFT")):
        envs += [quote_envelope(symbol, T0 + i * S, 100.0 + i, 300.0, 100.02 + i, 200.0),
                 trade_envelope(symbol, T0 + i * S + 5, 100.01 + i, 10.0),
                 trade_update_envelope(symbol, T0 + i * S + 9, "new", order_id=f"o-{symbol}")]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps(e) + "\n" for e in reversed(envs)))  # out of order on purpose
    env = {**os.environ, "PYTHONPATH": str(ROOT), **{f"MICROEXEC_TOPIC_{k.upper()}": v for k, v in names.items()}}
    done = subprocess.run([sys.executable, "-m", "microexec.cli", "feed", "replay", "--torghut", str(dump)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "replayed 9 records" in done.stdout
    for key, channel in (("quotes", "quotes"), ("trades", "trades"), ("trade_updates", "trade_updates")):
        msgs = read_all(kafka_settings, names[key])
        got = sorted((m.key().decode(), m.timestamp()[1], json.loads(m.value())["channel"]) for m in msgs)
        want = sorted((e["symbol"], _event_ns(e) // 1_000_000,
                       e["channel"]) for e in envs if e["channel"] == channel)
        assert got == want, key
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    refused = subprocess.run([sys.executable, "-m", "microexec.cli", "feed", "replay", "--torghut", str(bad)],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "not JSON" in refused.stderr


def _event_ns(env: dict[str, object]) -> int:
    from streams.timeutil import parse_ts_ns

    return parse_ts_ns(str(env["eventTs"]))
