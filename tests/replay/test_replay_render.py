"""report.html renders in a real browser (Debian's headless chromium): sections in the DOM, a non-blank page.

Never skipped: without chromium the test fails and says how to install it (scripts/test does).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from microexec.cli import main
from microexec.replay import browser

SECTIONS = ("verdict", "summary", "distributions", "tails", "pnl", "regimes", "divergence", "calibration",
            "handoff")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render")
    assert main(["replay", "--market", "simulated:11", "--seconds", "300", "--generate", "16", "--out", str(out)]) == 0
    return out / "report.html"


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert "<style>" in html and html.count("<svg") >= 8
    for external in ('src="http', "href=\"http", "<script", "<link"):
        assert external not in html


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    try:
        dom = browser.dump_dom(report)
    except browser.BrowserMissing as exc:
        pytest.fail(f"{exc}: run scripts/test, which installs it")
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    assert "Promotion verdict" in dom and "Per regime" in dom and "<svg" in dom
    # the page shows the evidence's own numbers
    doc = json.loads((report.parent / "gate_evidence.json").read_text())
    base, adv = doc["summary"]["baseline"], doc["summary"]["advisor"]
    for value in (base["mean_slippage_bps"], adv["mean_slippage_bps"], base["p95_shortfall_bps"]):
        assert f">{value:,.3f}<" in dom
    assert f">{doc['verdict'].upper()}<" in dom
    png = browser.screenshot(report, tmp_path / "shot.png", width=1000, height=1400)
    img = mpimg.imread(png)
    assert img.shape[0] == 1400 and img.shape[1] == 1000
    gray = img[..., :3].mean(axis=2)
    # a rendered report has text and coloured charts: many distinct shades, not a blank page
    assert gray.std() > 0.05 and len(np.unique(np.round(gray, 2))) > 20
