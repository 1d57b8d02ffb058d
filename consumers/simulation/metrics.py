"""The simulation consumer's Prometheus collectors, defined once per process.

Telemetry only, outside the Kafka transaction: a record reprocessed after an abort counts again.
The lookup before creating lets the module be imported under two names without a duplicate error.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram


def _get(name: str, kind: type, factory: Any) -> Any:
    existing = REGISTRY._names_to_collectors.get(name)
    if existing is not None:
        assert isinstance(existing, kind), f"{name} is registered as another metric type"
        return existing
    return factory()


CALIBRATIONS = _get(
    "microexec_simulation_calibrations_total", Counter,
    lambda: Counter("microexec_simulation_calibrations_total",
                    "Calibration attempts by outcome (ok, or the reason the window could not be fitted)",
                    ["outcome"]))
MC_DURATION = _get(
    "microexec_simulation_mc_duration_seconds", Histogram,
    lambda: Histogram("microexec_simulation_mc_duration_seconds",
                      "Wall time of one Monte Carlo (telemetry; never used in a decision)", ["kind"],
                      buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)))
BUDGET_REFUSALS = _get(
    "microexec_simulation_budget_refusals_total", Counter,
    lambda: Counter("microexec_simulation_budget_refusals_total",
                    "Monte Carlo runs refused or reduced by the deterministic work budget", ["decision"]))
SHORTFALL_STATUS = _get(
    "microexec_simulation_shortfall_records_total", Counter,
    lambda: Counter("microexec_simulation_shortfall_records_total",
                    "Shortfall records published, by status and kind (order, reference)", ["status", "kind"]))
