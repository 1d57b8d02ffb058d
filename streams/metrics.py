"""Prometheus metrics of the runtime, one definition per process.

Why labels by app: several consumers may share a process in tests and in the offline demo; the
``app`` label keeps their figures apart without separate registries.
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

RECORDS_IN = Counter("microexec_records_in_total", "Input records consumed", ["app", "topic"])
RECORDS_OUT = Counter("microexec_records_out_total", "Output records produced (committed or not)", ["app", "topic"])
DLQ = Counter("microexec_dlq_total", "Input records sent to the DLQ", ["app", "reason"])
PROCESSING_LATENCY = Histogram(
    "microexec_processing_latency_seconds", "Per-record decode+process+encode time", ["app"],
    buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1, 1.0),
)
COMMIT_LATENCY = Histogram(
    "microexec_commit_latency_seconds", "Transaction commit time (offsets + outputs + changelog)", ["app"],
    buckets=(1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 5.0),
)
CONSUMER_LAG = Gauge("microexec_consumer_lag", "Records behind the end of the partition", ["app", "topic", "partition"])
ABORTS = Counter("microexec_transactions_aborted_total", "Aborted transactions", ["app", "reason"])
REBALANCES = Counter("microexec_rebalances_total", "Partition assignment changes", ["app", "kind"])
RUN_RECORDS = Counter("microexec_run_records_total",
                      "Input records offered as runs (compiled path): taken, or record_by_record after a decline",
                      ["app", "outcome"])
PUNCTUATIONS = Counter("microexec_punctuations_total",
                       "Wall-clock punctuate calls (one per owned partition per round), by outcome", ["app", "outcome"])
LATE_RECORDS = Counter("microexec_late_records_total",
                       "Input records that arrived after the event-time merge released a record they precede "
                       "(beyond the lateness bound): processed at once, so live differs from a replay",
                       ["app", "topic"])
OUT_OF_ORDER = Counter("microexec_out_of_order_records_total",
                       "Input records processed with an event time older than one processed before in their "
                       "partition group (late arrivals, or disorder within a topic, which a replay repeats)",
                       ["app", "topic"])
MERGE_FLUSHES = Counter("microexec_merge_flushes_total",
                        "Event-time merge holds ended by the wall clock (dense inputs paused)", ["app"])
MERGE_BUFFERED = Gauge("microexec_merge_buffered_records", "Records held by the event-time merge", ["app"])
RESTORED = Counter("microexec_state_restored_records_total", "Changelog records replayed into state", ["app"])


def serve(port: int) -> None:
    """Expose /metrics, with /healthz and /readyz beside it (streams/health.py), on ``port`` (0: off)."""
    from streams import health

    health.serve(port)


def record_lag_from_stats(app: str, stats_json: str) -> None:
    """librdkafka statistics callback -> consumer lag gauges, without extra broker round trips."""
    stats: dict[str, Any] = json.loads(stats_json)
    for topic, tstats in stats.get("topics", {}).items():
        for partition, pstats in tstats.get("partitions", {}).items():
            lag = pstats.get("consumer_lag", -1)
            if partition != "-1" and lag is not None and lag >= 0:
                CONSUMER_LAG.labels(app, topic, partition).set(lag)
