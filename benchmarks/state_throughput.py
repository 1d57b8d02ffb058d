"""Quotes per second through the state consumer (exactly-once) vs the runtime passthrough of the same
records, same broker, same run.

    python benchmarks/state_throughput.py [--records 100000] [--symbols 50]

Both read the same Torghut quote topic (6 partitions). The passthrough copies bytes; the state
consumer decodes the JSON envelope, validates the quote, updates the per-symbol features in its
changelogged state, merges its four input topics in event time and emits Avro state records on
material change or heartbeat.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid

from _common import kafka_settings, report
from runtime_passthrough import Passthrough

from consumers.common.torghut_feed import synthetic_market
from streams.runtime import ExactlyOnceRuntime
from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from tests.support.kafka_io import create_topics, produce_all

KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state")


def throughput(runtime: ExactlyOnceRuntime, records: int) -> tuple[float, int]:
    stats = runtime.run(max_records=records, idle_timeout_s=120)
    assert stats.records_in == records, stats
    assert stats.first_record_at is not None and stats.last_commit_at is not None
    return records / (stats.last_commit_at - stats.first_record_at), stats.records_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=50)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    for key in KEYS:
        os.environ[f"MICROEXEC_TOPIC_{key.upper()}"] = f"bench-{key}-{tag}"
    from consumers.state.processor import StateProcessor
    from streams.topics import topic

    settings: Settings = kafka_settings()
    sink = f"bench-copy-{tag}"
    create_topics(settings, [(topic(k), 6, k == "state") for k in KEYS] + [(sink, 6, False)])
    symbols = [f"S{i:03d}" for i in range(args.symbols)]
    # 1,000 quotes/s over the symbols, the rate the advice latency benchmark uses too.
    feed = list(synthetic_market(symbols, args.records, seed=9, trade_every=10**9, step_ms=1.0))
    print(f"producing {len(feed):,} quotes over {len(symbols)} symbols ...")
    produce_all(settings, topic("quotes"), [(r.value["symbol"], json.dumps(r.value).encode()) for r in feed],
                timestamps=[parse_ts_ns(r.value["eventTs"]) // 1_000_000 for r in feed])

    reference, _ = throughput(ExactlyOnceRuntime(Passthrough(topic("quotes"), sink), settings, f"copy-{tag}"),
                              len(feed))
    print(f"reference (runtime passthrough, exactly-once): {reference:,.0f} quotes/s")
    ours, emitted = throughput(ExactlyOnceRuntime(StateProcessor(), settings, f"state-{tag}"), len(feed))
    print(f"ours (state consumer, exactly-once): {ours:,.0f} quotes/s, {emitted:,} state records emitted")
    print(f"ratio ours/reference: {ours / reference:.3f} (goal >= 0.5)")
    report("state_throughput", ours, reference, "quotes/s")


if __name__ == "__main__":
    main()
