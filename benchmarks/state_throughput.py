"""Quotes per second through the state consumer (exactly-once) vs the runtime passthrough of the same
records, same broker, same run.

    python benchmarks/state_throughput.py [--records 100000] [--symbols 50] [--trade-every N] [--repeat 3]

Both read the same Torghut quote topic (6 partitions). The passthrough copies bytes; the state
consumer decodes the JSON envelope, validates the quote, updates the per-symbol features in its
changelogged state, merges its four input topics in event time and emits Avro state records on
material change or heartbeat.

``--trade-every N`` makes every N-th record a trade (a real feed's mix): both sides then read the
quote and trade topics (the passthrough merges them in event time too) and the figures are input
records per second, reported as ``state_throughput_mixed``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
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
    parser.add_argument("--trade-every", type=int, default=0, help="every N-th record a trade (0: quotes only)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternate reference and ours this many times; medians are reported")
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
    trade_every = args.trade_every or 10**9
    feed = list(synthetic_market(symbols, args.records, seed=9, trade_every=trade_every, step_ms=1.0))
    inputs = (topic("quotes"), topic("trades")) if args.trade_every else (topic("quotes"),)
    print(f"producing {len(feed):,} records ({sum(r.topic == topic('trades') for r in feed):,} trades) "
          f"over {len(symbols)} symbols ...")
    for name in inputs:
        chosen = [r for r in feed if r.topic == name]
        produce_all(settings, name, [(r.value["symbol"], json.dumps(r.value).encode()) for r in chosen],
                    timestamps=[parse_ts_ns(r.value["eventTs"]) // 1_000_000 for r in chosen])

    records = len(feed)
    del feed  # a consumer process holds no such heap; left alive, it would tax both sides' garbage collection
    gc.collect()

    # Alternating the two, each time with fresh consumer groups over the same records, and taking
    # medians: on a shared machine one pair of runs can be off by 2x either way.
    refs: list[float] = []
    ours_runs: list[float] = []
    for rep in range(args.repeat):
        reference, _ = throughput(ExactlyOnceRuntime(Passthrough(inputs, sink), settings, f"copy-{tag}-{rep}"),
                                  records)
        state_runtime = ExactlyOnceRuntime(StateProcessor(), settings, f"state-{tag}-{rep}")
        ours, emitted = throughput(state_runtime, records)
        taken = state_runtime.stats.run_records
        refs.append(reference)
        ours_runs.append(ours)
        print(f"run {rep + 1}: reference (runtime passthrough, exactly-once) {reference:,.0f} records/s; "
              f"ours (state consumer, exactly-once) {ours:,.0f} records/s, {emitted:,} state records, "
              f"{taken / records:.0%} of the records folded as runs; ratio {ours / reference:.3f}")
    reference, ours = statistics.median(refs), statistics.median(ours_runs)
    print(f"medians over {args.repeat} runs: reference {reference:,.0f}, ours {ours:,.0f} records/s; "
          f"ratio ours/reference: {ours / reference:.3f} (goal >= 0.5)")
    name = "state_throughput_mixed" if args.trade_every else "state_throughput"
    report(name, ours, reference, "records/s" if args.trade_every else "quotes/s")


if __name__ == "__main__":
    main()
