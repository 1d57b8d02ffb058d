"""`microexec replay` end to end on small slices: recorded LOBSTER, a Torghut JSON dump, Binance, simulated.

Each run is a few seconds (a slice of the recording, a dozen orders); the outputs are checked for
content and for byte-identical evidence on a re-run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from microexec.cli import main
from microexec.replay.evidence import HANDOFF_KEYS
from producers.lobster import lobster_records
from simulator.execution.tca import slippage_bps
from tests.support.data import DATA_DIR

AMZN = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
CRITERIA = ["mean_slippage", "p95_shortfall", "fill_rate", "risk_rejections", "stable_across_regimes"]


def _evidence(out: Path) -> dict[str, Any]:
    assert (out / "report.html").is_file() and (out / "gate_evidence.json").is_file()
    doc: dict[str, Any] = json.loads((out / "gate_evidence.json").read_text())
    assert all(k in doc for k in HANDOFF_KEYS)
    assert [c["name"] for c in doc["criteria"]] == CRITERIA
    assert all(c["result"] in ("pass", "fail") for c in doc["criteria"])
    assert doc["verdict"] == ("pass" if all(c["result"] == "pass" for c in doc["criteria"]) else "fail")
    return doc


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def lobster_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lobster") / "report"
    assert main(["replay", "--market", str(AMZN), "--limit", "3000", "--generate", "14", "--out", str(out)]) == 0
    return out


def test_lobster_slice_end_to_end_and_reproducible(lobster_run: Path) -> None:
    doc = _evidence(lobster_run)
    first = (lobster_run / "gate_evidence.json").read_bytes()
    assert doc["market"]["kind"] == "lobster" and doc["evaluationWindow"]["orders"] == 14
    assert doc["riskConfigPath"].endswith("risk_config.json") and Path(doc["riskConfigPath"]).is_file()
    assert len(doc["head"]) == 40 and doc["artifactPath"] == str(lobster_run)
    assert any(d["fitted"] and 0 < d["ks_statistic"] < 1 for d in doc["market"]["calibration"])
    rows = _rows(lobster_run)
    assert len(rows) == 14
    for r in rows:  # every row's figures are Torghut's arithmetic on its own prices
        d = 1 if r["side"] == "buy" else -1
        for arm in ("baseline", "advised"):
            a = r[arm]
            if a["filled_qty"]:
                assert a["slippage_bps"] == pytest.approx(slippage_bps(d, a["avg_fill"], a["arrival"]))
    mean = [r["baseline"]["slippage_bps"] for r in rows if r["baseline"]["filled_qty"]]
    assert doc["summary"]["baseline"]["mean_slippage_bps"] == pytest.approx(sum(mean) / len(mean))
    # same inputs, same folder: byte-identical evidence
    assert main(["replay", "--market", str(AMZN), "--limit", "3000", "--generate", "14", "--out",
                 str(lobster_run)]) == 0
    assert (lobster_run / "gate_evidence.json").read_bytes() == first


def test_given_orders_file_reproduces_the_generated_run(lobster_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert main(["replay", "--market", str(AMZN), "--limit", "3000", "--orders", str(lobster_run / "orders.jsonl"),
                 "--out", str(out)]) == 0
    before = json.loads((lobster_run / "gate_evidence.json").read_text())
    after = _evidence(out)
    assert after["resultsDigest"] == before["resultsDigest"] and after["criteria"] == before["criteria"]


def test_torghut_json_dump_is_a_market(tmp_path: Path) -> None:
    dump = tmp_path / "amzn.jsonl"
    dump.write_text("".join(json.dumps(r.value) + "\n" for r in lobster_records(AMZN, limit=3000)))
    out = tmp_path / "out"
    assert main(["replay", "--market", str(dump), "--generate", "8", "--out", str(out)]) == 0
    doc = _evidence(out)
    assert doc["market"]["kind"] == "torghut" and doc["market"]["symbols"] == ["AMZN"]


def test_binance_slice(tmp_path: Path) -> None:
    files = sorted((DATA_DIR / "binance").glob("*.gz"))
    out = tmp_path / "out"
    assert main(["replay", "--market", *map(str, files), "--limit", "8000", "--generate", "8", "--horizon", "10:30",
                 "--out", str(out)]) == 0
    doc = _evidence(out)
    assert doc["market"]["kind"] == "binance" and doc["market"]["symbols"] == ["BTCUSDT"]
    assert doc["run"]["state_records"] > 0
    # a top-of-book recording: touch adds scaled down so the engine's touch balances (touch_balance.py)
    assert any(n.startswith("touch-add sizes x0.") for n in doc["market"]["notes"])


def test_simulated_market_labels_orders_by_its_regimes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["replay", "--market", "simulated:5", "--seconds", "300", "--generate", "12", "--out", str(out)]) == 0
    doc = _evidence(out)
    rows = _rows(out)
    assert doc["market"]["kind"] == "simulated" and len(rows) == 12
    assert {r["regime"] for r in rows} <= {"calm", "stressed", "shock"}
    assert all(r["liquidity_regime"] in ("normal", "compressed", "stressed", "no_state") for r in rows)
    assert all(math.isfinite(r["baseline"]["arrival"]) for r in rows)


def test_simulated_market_with_a_forced_regime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["replay", "--market", "simulated:5", "--regime", "shock", "--seconds", "300", "--generate", "8",
                 "--out", str(out)]) == 0
    doc = _evidence(out)
    assert {r["regime"] for r in _rows(out)} == {"shock"} and [r["regime"] for r in doc["regimes"]] == ["shock"]
    assert main(["replay", "--market", str(AMZN), "--regime", "shock", "--out", str(tmp_path / "rec")]) == 2
    assert "simulated market only" in capsys.readouterr().err


@pytest.mark.parametrize("market", ["missing_message_1.csv", "notes.txt", "simulated:x"])
def test_bad_market_is_a_clear_error(tmp_path: Path, market: str, capsys: pytest.CaptureFixture[str]) -> None:
    if market == "notes.txt":
        (tmp_path / market).write_text("hello\n")
    arg = market if market.startswith("simulated") else str(tmp_path / market)
    assert main(["replay", "--market", arg, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microexec replay: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "gate_evidence.json").exists()


def test_bad_orders_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = tmp_path / "orders.jsonl"
    orders.write_text(json.dumps({"order_id": "a", "symbol": "AMZN", "side": "buy", "quantity": 10}) + "\n")
    assert main(["replay", "--market", str(AMZN), "--limit", "500", "--orders", str(orders),
                 "--out", str(tmp_path / "out")]) == 2
    assert "missing ['horizon_s', 'submitted_ns']" in capsys.readouterr().err
