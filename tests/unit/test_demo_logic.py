"""The demo's pure decisions: when settling consumers fail the run, and the per-arm summaries."""

from __future__ import annotations

from microexec.demo import settle_verdict
from microexec.demo_report import divergence_summary, trade_update_summary
from producers.torghut_envelopes import trade_update_envelope


def test_settle_verdict_fails_report_inputs_and_stuck_consumers_only() -> None:
    first = {"state": 50, "advisor": 10, "tca": 5, "simulation": 4000, "alerts": 30}
    assert settle_verdict({k: 0 for k in first}, first) == ([], {})
    failed, slow = settle_verdict({"state": 0, "advisor": 0, "tca": 2, "simulation": 3000, "alerts": 30}, first)
    assert failed == ["tca", "alerts"]  # tca feeds the report; alerts made no progress at all
    assert slow == {"simulation": 3000}  # progressing: reported, not failed
    assert settle_verdict({"state": None, "alerts": None}, {}) == (["state"], {})


def test_summaries_per_arm() -> None:
    envs = []
    for arm, filled in (("baseline", 100.0), ("advisor", 40.0)):
        envs.append(trade_update_envelope("AMZN", 1, "new", order_id=f"p-{arm}", qty=100.0, account_label=arm))
        envs.append(trade_update_envelope("AMZN", 2, "fill" if filled == 100 else "canceled", order_id=f"p-{arm}",
                                          qty=100.0, filled_qty=filled, account_label=arm))
    tu = trade_update_summary(envs)
    assert tu["baseline"]["fill_rate"] == 1.0 and tu["advisor"]["fill_rate"] == 0.4
    assert tu["baseline"]["completed"] == 1 and tu["advisor"]["completed"] == 0
    div = divergence_summary([
        {"strategy": "baseline", "slippage_bps": 2.0, "realized_shortfall_bps": 2.0, "divergence_bps": -1.0},
        {"strategy": "baseline", "slippage_bps": 4.0, "realized_shortfall_bps": 4.0, "divergence_bps": 3.0},
        {"strategy": "advisor", "slippage_bps": 1.0, "realized_shortfall_bps": 1.0, "divergence_bps": None},
    ])
    assert div["baseline"]["records"] == 2 and div["baseline"]["slippage_bps"]["mean"] == 3.0
    assert div["baseline"]["mean_abs_divergence_bps"] == 2.0 and div["advisor"]["mean_abs_divergence_bps"] is None
