"""The join-the-back fill estimator of microexec.replay.touch_check on tapes whose answer is known."""

from __future__ import annotations

import numpy as np

from microexec.replay.touch_check import Tape, join_fills, model_figures, spread_of
from simulator.market.model import illustrative_model

S = 1_000_000_000


def _tape(trades: list[tuple[float, float, float, float]], seconds: int = 200) -> Tape:
    quotes = np.array([(k * S, 100.00, 5.0, 100.01, 5.0) for k in range(seconds + 1)], dtype=np.float64)
    return Tape(quotes, np.array([(t * S, p, q, a) for t, p, q, a in trades], dtype=np.float64).reshape(-1, 4))


def test_a_child_fills_once_the_volume_ahead_of_it_has_traded() -> None:
    # One share sold into the 5-share bid every second: the sixth share reaches a child that joined behind 5.
    tape = _tape([(t + 0.5, 100.00, 1.0, -1.0) for t in range(200)])
    assert join_fills(tape, "bid", 10.0) == 1.0
    assert join_fills(tape, "bid", 4.0) == 0.0
    assert join_fills(tape, "ask", 10.0) == 0.0  # nothing bought at the ask


def test_a_trade_through_the_price_fills_and_the_other_side_of_the_flow_does_not() -> None:
    through = _tape([(t + 0.5, 99.99, 0.1, -1.0) for t in range(0, 200, 20)])
    assert join_fills(through, "bid", 30.0) == 1.0
    buys = _tape([(t + 0.5, 100.00, 10.0, 1.0) for t in range(200)])  # buyer-initiated prints never hit the bid
    assert join_fills(buys, "bid", 30.0) == 0.0


def test_the_model_side_measures_a_simulated_path_with_the_same_code() -> None:
    out = model_figures(illustrative_model(), 240.0, (30.0,))
    assert out["aggressive_volume_per_s"] > 0
    assert out["bid_size_median"] > 0 and out["touch_price_changes_per_s"] > 0
    assert all(0.0 <= v <= 1.0 for v in out["join_fill"]["30s"].values())


def test_several_paths_are_reported_as_min_median_max() -> None:
    paths = [{"a": 1.0, "j": {"60s": {"bid": 0.2}}}, {"a": 3.0, "j": {"60s": {"bid": 0.6}}},
             {"a": 2.0, "j": {"60s": {"bid": 0.4}}}]
    assert spread_of(paths) == {"a": [1.0, 2.0, 3.0], "j": {"60s": {"bid": [0.2, 0.4, 0.6]}}}
