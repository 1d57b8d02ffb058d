"""Per-window calibration: window edges, the model an arrival gets, and the fallback for a thin window."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from microexec.cli import main
from microexec.replay.sources import MarketInputError
from microexec.replay.windows import window_edges, windowed_models
from simulator.calibration import Calibration, DimensionReport
from simulator.market.model import illustrative_model
from tests.support.data import DATA_DIR

S = 1_000_000_000


def test_edges_by_hand() -> None:
    assert window_edges(0, 10 * S, 4.0) == [0, 4 * S, 8 * S, 10 * S]  # last piece 2 s = half a window: kept
    assert window_edges(0, 9 * S, 4.0) == [0, 4 * S, 9 * S]  # last piece 1 s: joins the one before
    assert window_edges(0, 3 * S, 4.0) == [0, 3 * S]
    with pytest.raises(ValueError):
        window_edges(0, S, 0.0)


def test_arrival_gets_its_windows_model_and_thin_windows_fall_back() -> None:
    whole = illustrative_model()
    fitted: dict[int, Any] = {}

    def fit(lo: int, hi: int) -> Calibration:
        if lo == 4 * S:
            raise MarketInputError("too few events")
        model = replace(whole, ref_price=100.0 + lo / S, metadata={"n_events": 10})
        fitted[lo] = model
        dims = [DimensionReport("market_buy", 5, True, 0.1, 0.5, 1.0, 1.0),
                DimensionReport("market_sell", 5, True, 0.3, 0.5, 1.0, 1.0)]
        return Calibration(model, None, dims, [0, 1])  # type: ignore[arg-type]

    model_at, rows = windowed_models(fit, whole, 0, 10 * S, 4.0)
    assert model_at("X", 0)[0] is fitted[0] and model_at("X", 4 * S - 1)[0] is fitted[0]
    assert model_at("X", 5 * S)[0] is whole  # the thin window's orders run on the whole-slice model
    assert model_at("X", 9 * S)[0] is fitted[8 * S] and model_at("X", 11 * S)[0] is fitted[8 * S]
    assert [r["fallback"] for r in rows] == [False, True, False]
    assert rows[0]["ks_median"] == pytest.approx(0.2) and rows[0]["ks_max"] == pytest.approx(0.3)
    assert rows[0]["rate_per_s"] == pytest.approx(10 / 4)


def test_windowed_replay_end_to_end(tmp_path: Path) -> None:
    amzn = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
    out = tmp_path / "out"
    assert main(["replay", "--market", str(amzn), "--limit", "3000", "--calibration-window", "600", "--generate",
                 "10", "--out", str(out)]) == 0
    doc = (out / "gate_evidence.json").read_text()
    windows = json.loads(doc)["market"]["calibrationWindows"]
    assert len(windows) >= 2 and all(w["events"] > 0 for w in windows if not w["fallback"])
    assert "Calibration windows" in (out / "report.html").read_text()
