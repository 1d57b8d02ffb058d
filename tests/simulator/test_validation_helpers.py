"""The validation report's helpers: another engineer's section survives regeneration, and the
stylized-fact tolerances judge as documented."""

from __future__ import annotations

import dataclasses

import numpy as np

from simulator import validation_age as va
from simulator import validation_facts as vf
from simulator import validation_windows as vw
from simulator.calibration.windows import WindowFit
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AGE_EDGES
from simulator.validation_report import _goal
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


def _window(run_ks: list[tuple[float, float]],
            age_model: tuple[MultiScaleParams, np.ndarray] | None = None, n_events: int = 100) -> WindowFit:
    ks = [(0.1, 0.01), (0.1, 0.2)]
    return WindowFit(source="x", start_s=0.0, end_s=600.0, n_events=n_events, dims=["a", "b"], counts=[50, 50],
                     reference_ks=ks, chosen="m", chosen_ks=ks, candidates=[], run_chosen="m x own age",
                     run_ks=run_ks, run_aic_chosen="m x own age", run_aic_ks=run_ks, age_model=age_model)


def test_runnable_choice_counts_and_the_goal_verdict() -> None:
    w = _window([(0.05, 0.5), (0.05, 0.3)])
    assert w.passes("run") == 2 and w.passes("chosen") == 1
    text = vw.summary({"d": [w]})
    assert "KS passes at 5%: BIC's choice among runnable" in text and "2 (100%)" in text
    assert "Models chosen by AIC among runnable, over all windows: m x own age: 1." in text
    assert _goal(86, 122).startswith("met in sample") and _goal(85, 122).startswith("NOT met (85 of 122")
    assert _goal(72, 122) == "NOT met (72 of 122 = 59% < 70%)"  # the percentage said, not only the bar


def test_a_second_view_of_a_recording_is_shown_but_not_counted() -> None:
    """The raw receive-time view of the Binance window gets its row, outside the totals and the choices."""
    counted, extra = _window([(0.05, 0.5), (0.05, 0.3)]), _window([(0.05, 0.001), (0.05, 0.002)])
    extra = dataclasses.replace(extra, run_chosen="raw only", run_aic_chosen="raw only")
    text = vw.summary({"d": [counted]}, extra={"d raw": [extra]})
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert rows["| **all**"].split(" | ")[1:3] == ["1", "2"]  # one window, two dimensions: the extra is out
    assert "| d raw (not in the totals)" in rows and "raw only" not in text


def test_each_window_age_model_is_simulated_and_tested_against_itself() -> None:
    base = MultiScaleParams(np.array([[0.8], [0.5]]), np.array([0.0, 600.0]),
                            np.array([[[0.3], [0.1]], [[0.2], [0.2]]]), np.array([4.0]))
    factors = np.ones((2, len(AGE_EDGES) + 1))
    factors[0, :3] = [0.2, 0.5, 2.0]
    expected = 600.0 * float(base.mean_intensity().sum())
    out = va.simulated_windows({"d": [_window([], (base, factors), int(expected))]}, seed=3)
    assert out["sim_windows"] == 1 and out["sim_failed"] == 0 and out["sim_dims"] == 2
    assert 0.6 < out["sim_ratio_med"] < 1.4  # type: ignore[operator]
    # an explosive model is caught and counted, not drawn for ever
    hot = MultiScaleParams(base.baseline, base.edges, base.alpha, base.decays)
    boom = np.full((2, len(AGE_EDGES) + 1), 1.0)
    boom[:, :4] = 40.0
    out = va.simulated_windows({"d": [_window([], (hot, boom), 10)]}, seed=3)
    assert out["sim_failed"] == 1 and out["sim_dims"] == 0
    # where BIC chose an own-age variant, that one is drawn, not the class model
    chosen = dataclasses.replace(_window([], (hot, boom), int(expected)), age_choice_model=(base, factors))
    out = va.simulated_windows({"d": [chosen]}, seed=3)
    assert out["sim_failed"] == 0 and out["sim_dims"] == 2
