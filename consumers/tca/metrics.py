"""The TCA consumer's Prometheus collectors (the seed's names), defined once per process.

Why histograms for slippage, shortfall notional and divergence: each completed order is one
observation of a distribution, and what operations ask of it is a mean, a tail (p95) or a rate over
time, across every partition and instance. A histogram's ``_sum``/``_count``/buckets aggregate
across instances and give all three (``histogram_quantile``); a gauge would keep only the last
order of the last instance to write it. The window mean |divergence| is a gauge: it *is* a current
value, one per symbol.

Label cardinality is bounded per process (``LabelCap``): the first N distinct symbols (and M
strategies) keep their own label, later ones are reported as ``other``. Every count is kept; only
its breakdown coarsens. These collectors are telemetry outside the Kafka transaction: a record
reprocessed after an aborted transaction is observed again.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

OTHER = "other"
_BPS_BUCKETS = (-100.0, -50.0, -20.0, -12.0, -5.0, -2.0, 0.0, 2.0, 5.0, 12.0, 20.0, 50.0, 100.0)
_NOTIONAL_BUCKETS = (-100_000.0, -10_000.0, -1_000.0, -100.0, -10.0, 0.0, 10.0, 100.0, 1_000.0, 10_000.0,
                     100_000.0)


def _existing(name: str) -> object | None:
    # prometheus_client raises on a second registration (a module imported under two names in tests):
    # return the collector already registered under that name instead.
    return REGISTRY._names_to_collectors.get(name)


def _histogram(name: str, doc: str, labels: list[str], buckets: tuple[float, ...]) -> Histogram:
    found = _existing(name)
    if isinstance(found, Histogram):
        return found
    return Histogram(name, doc, labels, buckets=buckets)


def _counter(name: str, doc: str, labels: list[str]) -> Counter:
    found = _existing(name) or _existing(name + "_total")
    if isinstance(found, Counter):
        return found
    return Counter(name, doc, labels)


def _gauge(name: str, doc: str, labels: list[str]) -> Gauge:
    found = _existing(name)
    if isinstance(found, Gauge):
        return found
    return Gauge(name, doc, labels)


SLIPPAGE = _histogram("execution_slippage_bps", "Per-order slippage vs arrival, bps (TORGHUT.md arithmetic)",
                      ["symbol", "strategy"], _BPS_BUCKETS)
SHORTFALL_NOTIONAL = _histogram("execution_shortfall_notional",
                                "Per-order shortfall notional, quote currency: dir*(avg_fill-arrival)*filled_qty",
                                ["symbol", "strategy"], _NOTIONAL_BUCKETS)
DIVERGENCE = _histogram("tca_simulator_divergence_bps", "Realized minus simulated p50 shortfall per order, bps",
                        ["symbol"], _BPS_BUCKETS)
WINDOW_MEAN = _gauge("tca_window_mean_abs_divergence_bps", "Mean |divergence| of the symbol's current window",
                     ["symbol"])
ORDERS = _counter("tca_orders", "Orders by TCA outcome: emitted, expected_missing, unfilled, evicted_*, ...",
                  ["outcome"])
LATE = _counter("tca_late_inputs", "Inputs for an order already emitted (ignored): distribution, trade_update",
                ["kind"])
RECALIBRATION = _counter("tca_recalibration_requests", "Divergence records with recalibration_requested",
                         ["symbol"])


class LabelCap:
    """The first ``limit`` distinct values keep their label; the rest map to ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        label = value or "unknown"
        if label in self._seen:
            return label
        if len(self._seen) < self.limit:
            self._seen.add(label)
            return label
        return OTHER
