"""The divergence guardrail end to end (simulation's distribution -> TCA -> alerts): orders run on a
market the simulator is wrong about make the breach alert fire within K windows; on a market it is
right about, it stays quiet. Figures are printed for the record (`pytest -s`)."""

from __future__ import annotations

from microexec.drill import DrillSettings, drill


def test_a_miscalibrated_simulator_fires_the_divergence_alert_within_k_windows() -> None:
    s = DrillSettings()
    report = drill("shock", "calm", range(1000, 1005), s)
    summary = report.as_dict()
    print("miscalibrated:", summary)
    k_orders = s.alerts.divergence_windows * s.alerts.divergence_window_orders
    assert report.fire_rate == 1.0
    assert summary["within_k_windows"] >= 4  # of 5 seeds: at the K-th window, not later
    assert all(o.fired_after_orders is not None and o.fired_after_orders >= k_orders for o in report.outcomes)


def test_a_well_calibrated_simulator_rarely_raises_a_false_alarm() -> None:
    report = drill("calm", "calm", range(1, 21), DrillSettings())
    summary = report.as_dict()
    print("well calibrated, 20 seeds:", summary)
    assert all(len(o.divergences) >= 30 for o in report.outcomes)  # the orders really went through TCA
    assert summary["mean_abs_divergence_bps"] < 12.0
    assert report.fire_rate <= 0.05
