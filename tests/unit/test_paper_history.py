"""The executor's advice-as-of-arrival: no look-ahead, no dependence on arrival order of records."""

from __future__ import annotations

from typing import Any

import pytest

from microexec.cli import main
from producers.paper.history import HistoryBook
from streams.timeutil import format_ts_ns
from torghut_client import BaselineOrder

S = 1_000_000_000
T0 = 1_767_623_400 * S


def _state(ts: int, regime: str = "normal") -> dict[str, Any]:
    return {"schema_version": "microstructure_state_v1", "symbol": "AMZN", "event_ts": format_ts_ns(ts),
            "spread_bps": 3.0, "depth_top5_usd": 2e6, "order_flow_imbalance": 0.0, "latency_ms_estimate": 5.0,
            "fill_hazard": 0.3, "liquidity_regime": regime}


def _advice(ts: int, participation: float) -> dict[str, Any]:
    return {"symbol": "AMZN", "event_ts": format_ts_ns(ts), "urgency_tier": "low",
            "max_participation_rate": participation, "preferred_order_type": "limit", "quote_offset_bps": 1.0,
            "adverse_selection_risk": 0.2, "latency_ms": 1.0, "fallback_reason": None}


def test_decision_uses_the_records_in_force_at_arrival_whatever_order_they_came_in() -> None:
    records = [("s", _state(T0)), ("a", _advice(T0, 0.04)), ("s", _state(T0 + 10 * S)),
               ("a", _advice(T0 + 10 * S, 0.02))]
    answers = []
    for order in (records, list(reversed(records))):
        book = HistoryBook()
        for kind, value in order:
            (book.update_state if kind == "s" else book.update_advice)("AMZN", value)
        baseline = BaselineOrder(0.10, "market")
        early = book.advice_as_of("AMZN", T0 + 5 * S, baseline)
        late = book.advice_as_of("AMZN", T0 + 12 * S, baseline)
        before = book.advice_as_of("AMZN", T0 - S, baseline)
        answers.append((early.participation_rate, late.participation_rate, before.fallback_reason))
        assert book.seen_past("AMZN", T0 + 5 * S) and not book.seen_past("AMZN", T0 + 10 * S)
    assert answers[0] == answers[1] == (0.04, 0.02, "missing_state")


def test_commands_refuse_bad_arguments_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feed", "simulate", "--start", "yesterday"]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["paper", "run", "--orders", "-1"]) == 2
    assert main(["demo", "--minutes", "0.1", "--speed", "1"]) == 2  # too short for the horizons


def test_pruning_keeps_the_record_in_force() -> None:
    book = HistoryBook()
    for k in range(5):
        book.update_state("AMZN", _state(T0 + k * S))
        book.update_advice("AMZN", _advice(T0 + k * S, 0.01 * (k + 1)))
    book.prune_before(T0 + 2 * S + 1)
    baseline = BaselineOrder(0.10, "market")
    assert book.advice_as_of("AMZN", T0 + 2 * S + 5, baseline).participation_rate == 0.03
    assert book.advice_as_of("AMZN", T0 + 4 * S, baseline).participation_rate == 0.05
    assert book.as_of("AMZN", T0 + S).latest("AMZN") == (None, None)  # pruned history is gone
