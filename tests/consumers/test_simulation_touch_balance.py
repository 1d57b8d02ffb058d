"""The simulation consumer calibrates a top-of-book window as the replay does: touch adds balanced.

Why it matters: on a venue where liquidity is requoted (crypto), the feed shows the touch topped up
far more often than visibly cancelled; fitted unbalanced, the simulated touch only grows and the
Monte Carlo's passive children never fill, so live shortfall expectations would disagree with the
replay's (simulator.calibration.touch_balance, microexec.replay.sources.calibrate_window).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from consumers.simulation.fitting import fit_window
from consumers.simulation.window import as_envelopes
from simulator.calibration.torghut import flow_from_envelopes
from simulator.calibration.touch_balance import touch_scale
from simulator.market.types import LIMIT_ASK_TOUCH, LIMIT_BID_TOUCH


def _requoting_window(seed: int, n: int = 4000) -> list[list[Any]]:
    """Quotes and trades where the touch is mostly topped up and the price moves by requotes."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    t = 1_700_000_000_000_000_000
    bid, ask, bs, asz = 100.00, 100.01, 5.0, 5.0
    events: list[list[Any]] = []
    for _ in range(n):
        t += int(rng.exponential(0.05) * 1e9) + 1
        u = rng.random()
        if u < 0.55:
            if rng.random() < 0.5:
                bs += float(rng.integers(1, 5))
            else:
                asz += float(rng.integers(1, 5))
        elif u < 0.75:
            q = float(rng.integers(1, 3))
            if rng.random() < 0.5:
                events.append([t, bid, q])
                bs = max(1.0, bs - q)
            else:
                events.append([t, ask, q])
                asz = max(1.0, asz - q)
            t += 1
        else:
            step = 0.01 if rng.random() < 0.5 else -0.01
            bid, ask = round(bid + step, 2), round(ask + step, 2)
            bs, asz = float(rng.integers(1, 8)), float(rng.integers(1, 8))
        events.append([t, bid, bs, ask, asz])
    return events


def test_the_consumers_fit_balances_the_touch_adds_of_a_requoting_feed() -> None:
    events = _requoting_window(7)
    raw = flow_from_envelopes(as_envelopes("X", events), tick_size=0.01, size_unit=1.0, source="t", balance_touch=False)
    scale = touch_scale(raw)
    assert scale["bid"] < 0.6 and scale["ask"] < 0.6  # the feed is unbalanced: the test can fail
    fitted = fit_window("X", events, None, tick_size=0.01, size_unit=1.0, max_iter=30)
    marks = fitted.calibration.model.marks
    for dim, side in ((LIMIT_BID_TOUCH, "bid"), (LIMIT_ASK_TOUCH, "ask")):
        raw_mean = float(raw.sizes[raw.dims == dim].mean())
        # The fitted touch-add size is the balanced one, well below the raw mapped mean.
        assert marks[dim].mean() < 0.75 * raw_mean, (side, marks[dim].mean(), raw_mean)
