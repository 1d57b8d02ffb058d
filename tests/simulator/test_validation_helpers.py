"""The validation report's helpers: another engineer's section survives regeneration, and the
stylized-fact tolerances judge as documented."""

from __future__ import annotations

import numpy as np

from simulator import validation_facts as vf
from simulator.validation_windows import preserved_tail


def test_advisor_section_is_carried_over_verbatim() -> None:
    existing = "# Title\n\nold text\n\n## Advisor vs baseline (offline replay)\n\n| a | b |\n\nmore\n"
    assert preserved_tail(existing) == "## Advisor vs baseline (offline replay)\n\n| a | b |\n\nmore\n"
    assert preserved_tail("# Title\n\n## Something else\n") == ""
    # Only a line that *starts* with the heading counts.
    assert preserved_tail("text mentioning ## Advisor vs baseline inline\n") == ""
    # The replay tool wraps its section in markers: the begin marker travels with it.
    marked = ("# T\n\n<!-- replay-validation:begin -->\n\n## Advisor vs baseline (x)\n\nrows\n"
              "<!-- replay-validation:end -->\n")
    assert preserved_tail(marked).startswith("<!-- replay-validation:begin -->\n\n## Advisor vs baseline (x)")
    assert preserved_tail(marked).endswith("<!-- replay-validation:end -->\n")


def test_facts_and_tolerances() -> None:
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(0.1, 300_000))
    dims = rng.integers(0, 10, times.size)
    spreads = np.full(times.size, 5)
    mids = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-4, times.size)))
    f = vf.compute_facts(times, dims, spreads, mids, float(times[-1]))
    v = f.values
    assert v["spread median (ticks)"] == 5 and v["one-tick spreads (share)"] == 0
    assert abs(v["inter-arrival coefficient of variation"] - 1.0) < 0.05  # Poisson
    assert abs(v["count ACF, mean over lags 30-300 s"]) < 0.05
    assert abs(v["volatility signature: variance rate 1 s / 300 s"] - 1.0) < 0.5  # a random walk
    assert vf.holds("spread median (ticks)", 13.0, 15.0) and not vf.holds("spread median (ticks)", 13.0, 16.0)
    assert vf.holds("spread p95 (ticks)", 24.0, 36.0) and not vf.holds("spread p95 (ticks)", 24.0, 37.0)
    table, held = vf.facts_table(f, {"same": f})
    assert held["same"] == len(vf.TOLERANCES) and "(holds)" in table
