"""The advisor's Prometheus counters (seed names), defined once per process.

Why the lookup before creating: prometheus_client raises on a second registration of a name, which
happens when a module is imported under two names (tests, ``python -m``) or reloaded; returning the
already registered collector keeps "one definition, importable many times".

These counters are telemetry, outside the Kafka transaction: a record reprocessed after an aborted
transaction is counted again. They keep counting when advice is disabled.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter


def _counter(name: str, documentation: str, labels: list[str]) -> Counter:
    existing = REGISTRY._names_to_collectors.get(name)
    if existing is not None:
        assert isinstance(existing, Counter), f"{name} is registered as another metric type"
        return existing
    return Counter(name, documentation, labels)


POLICY_OVERRIDE = _counter(
    "execution_policy_override_total",
    "Advice records that differ from the baseline policy, or fallbacks to it, by reason",
    ["reason"],
)
ADVERSE_SELECTION_FLAG = _counter(
    "execution_adverse_selection_flag_total",
    "Advice records whose adverse_selection_risk exceeds the flag threshold (Torghut rejects above 0.85)",
    ["symbol"],
)
