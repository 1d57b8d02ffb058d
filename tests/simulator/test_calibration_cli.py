"""The `microexec simulate` / `calibrate` / `shortfall` commands through the real dispatcher."""

from __future__ import annotations

import json

from microexec.cli import main
from tests.support.data import DATA_DIR

AMZN = (DATA_DIR / "lobster"
        / "AMZN_2012-06-21_34200000_57600000_message_1.csv")


def test_simulate_prints_digest_and_is_reproducible(capsys):
    assert main(["simulate", "--seed", "3", "--symbol", "TEST", "--seconds", "20"]) == 0
    first = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("digest ")]
    assert main(["simulate", "--seed", "3", "--symbol", "TEST", "--seconds", "20"]) == 0
    second = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("digest ")]
    assert len(first) == 1 and first == second
    assert main(["simulate", "--seed", "4", "--symbol", "TEST", "--seconds", "20", "--json"]) == 0
    other = json.loads(capsys.readouterr().out)
    assert other["digest"] != first[0].split()[1] and other["book_valid"] is True


def test_bad_inputs_exit_2_with_a_message(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "missing_message_1.csv"), "--out", str(tmp_path / "p.json")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    assert main(["simulate", "--seed", "1", "--symbol", "X", "--seconds", "5", "--params", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_calibrate_then_simulate_and_shortfall_from_the_params(tmp_path, capsys):
    out = tmp_path / "amzn.json"
    rc = main(["calibrate", str(AMZN), "--out", str(out), "--start", "34200", "--end", "34800"])
    assert rc == 0 and out.exists()
    text = capsys.readouterr().out
    assert "market_buy" in text and "KS statistic" in text and "not fitted" in text
    assert main(["simulate", "--seed", "1", "--symbol", "AMZN", "--seconds", "60", "--params", str(out),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["book_valid"] is True
    assert main(["shortfall", "--params", str(out), "--order-id", "t1", "--paths", "20", "--horizon", "60"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_paths"] == 20 and len(res["digest"]) == 64


def test_calibrate_select_writes_the_chosen_flow_and_shortfall_runs_on_it(tmp_path, capsys):
    out = tmp_path / "amzn_ms.json"
    rc = main(["calibrate", str(AMZN), "--out", str(out), "--start", "34200", "--end", "34500",
               "--flow-model", "select"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "<- chosen" in err and "exp per pair, constant baseline" in err
    data = json.loads(out.read_text())
    assert ("multiscale" in data) == (data["metadata"]["flow_model"] != "exp per pair, constant baseline")
    assert main(["shortfall", "--params", str(out), "--order-id", "t2", "--paths", "20", "--horizon", "60"]) == 0
    assert json.loads(capsys.readouterr().out)["n_paths"] == 20


def test_debatch_is_refused_on_exchange_timestamps(tmp_path, capsys):
    assert main(["calibrate", str(AMZN), "--out", str(tmp_path / "p.json"), "--debatch"]) == 2
    assert "Binance" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
