"""The alerts consumer's Prometheus metrics, defined once per process (as consumers/advisor/metrics.py).

Why gauges of the alert status and not only counters: a Prometheus rule on a counter's rate goes
quiet once the transition is out of its range, whereas ``execution_alert_firing == 1`` holds for as
long as the alert does; deploy/prometheus/alerts.yml alerts on it.

These are telemetry outside the Kafka transaction (a record reprocessed after an abort is counted
again; a gauge is set to the same value again). The status gauges are re-asserted from state on
every punctuation, so they come back after a restart, and those of partitions this process no
longer punctuates (revoked in a rebalance) are removed, so a moved partition cannot leave a
firing gauge behind on its old owner.
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import REGISTRY, Counter, Gauge

C = TypeVar("C", Counter, Gauge)


def _metric(kind: type[C], name: str, documentation: str, labels: list[str]) -> C:
    existing = REGISTRY._names_to_collectors.get(name)  # a Counter is registered under x_total too
    if existing is not None:
        assert isinstance(existing, kind), f"{name} is registered as another metric type"
        return existing
    return kind(name, documentation, labels)


ALERT_FIRING = _metric(
    Gauge, "execution_alert_firing",
    "1 while the alert is firing, 0 once resolved (alert_key = alert_type:symbol, or advice_stream_stale:*:p<N>)",
    ["alert_type", "alert_key"])
ALERT_TRANSITIONS = _metric(
    Counter, "execution_alert_transitions_total", "firing and resolved events published", ["alert_type", "status"])
ADVICE_LAG = _metric(
    Gauge, "execution_advice_lag_seconds",
    "Event time a symbol's state has moved on past its newest advice while a state is unanswered (0 when "
    "every state has advice)", ["symbol"])
STREAM_IDLE = _metric(
    Gauge, "execution_advice_stream_idle_seconds",
    "Wall seconds since the alerts consumer last saw advice on an input partition (measured at punctuation)",
    ["partition"])
DIVERGENCE_WINDOW = _metric(
    Gauge, "tca_divergence_window_mean_abs_bps", "Mean |divergence_bps| of the symbol's last closed window",
    ["symbol"])
ADVERSE_FLAG_RATE = _metric(
    Gauge, "execution_adverse_selection_flag_rate_per_min",
    "Adverse-selection flags per minute in the symbol's last closed event-time window", ["symbol"])
SKIPPED = _metric(
    Counter, "execution_alert_inputs_skipped_total",
    "Valid inputs an alert could not use (divergence without an expected distribution, ...)", ["reason"])
