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

``--recorded`` replays the recorded market data instead (data/ in the repository or MICROEXEC_DATA_DIR: the
AMZN LOBSTER day and ``--records`` Binance BTCUSDT records, quotes, trades and L2 books): both sides
read the three topics; reported as ``state_throughput_recorded`` in records/s.
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

from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from tests.support.kafka_io import create_topics, produce_all
from tests.support.synthetic_market import synthetic_market
from torghut_domain.runtime import TorghutRuntime

KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state")


def throughput(runtime: TorghutRuntime, records: int) -> tuple[float, int]:
    stats = runtime.run(max_records=records, idle_timeout_s=120)
    assert stats.records_in == records, stats
    assert stats.first_record_at is not None and stats.last_commit_at is not None
    return records / (stats.last_commit_at - stats.first_record_at), stats.records_out


def produce_synthetic(settings: Settings, n_symbols: int, n_records: int,
                      trade_every: int) -> tuple[int, tuple[str, ...]]:
    from torghut_domain.topics import topic

    symbols = [f"S{i:03d}" for i in range(n_symbols)]
    # 1,000 quotes/s over the symbols, the rate the advice latency benchmark uses too.
    feed = list(synthetic_market(symbols, n_records, seed=9, trade_every=trade_every or 10**9, step_ms=1.0))
    inputs = (topic("quotes"), topic("trades")) if trade_every else (topic("quotes"),)
    print(f"producing {len(feed):,} records ({sum(r.topic == topic('trades') for r in feed):,} trades) "
          f"over {len(symbols)} symbols ...")
    for name in inputs:
        chosen = [r for r in feed if r.topic == name]
        produce_all(settings, name, [(r.value["symbol"], json.dumps(r.value).encode()) for r in chosen],
                    timestamps=[parse_ts_ns(r.value["eventTs"]) // 1_000_000 for r in chosen])
    return len(feed), inputs


def produce_recorded(settings: Settings, binance_limit: int) -> tuple[int, tuple[str, ...]]:
    from microexec.sample_data import DATA_DIR as DATA
    from producers.binance import binance_records
    from producers.lobster import lobster_records
    from producers.replay import replay
    from torghut_domain.topics import topic

    amzn = DATA / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
    btc = sorted((DATA / "binance").glob("*.gz"))
    if not amzn.exists() or not btc:
        raise SystemExit(f"recorded data not found under {DATA} (set MICROEXEC_DATA_DIR)")
    print(f"replaying the AMZN LOBSTER day and {binance_limit:,} BTCUSDT records ...")
    sent = replay(settings, lobster_records(amzn), show_progress=False, ordered=False)  # a backlog, read after
    sent += replay(settings, binance_records(btc, limit=binance_limit), show_progress=False, ordered=False)
    return sent, (topic("quotes"), topic("trades"), topic("book_l2"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="synthetic records, or Binance records")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--trade-every", type=int, default=0, help="every N-th record a trade (0: quotes only)")
    parser.add_argument("--recorded", action="store_true", help="recorded LOBSTER + Binance data instead")
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternate reference and ours this many times; medians are reported")
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    for key in KEYS:
        os.environ[f"MICROEXEC_TOPIC_{key.upper()}"] = f"bench-{key}-{tag}"
    from consumers.state.processor import StateProcessor
    from torghut_domain.topics import topic

    settings: Settings = kafka_settings()
    sink = f"bench-copy-{tag}"
    create_topics(settings, [(topic(k), 6, k == "state") for k in KEYS] + [(sink, 6, False)])
    if args.recorded:
        records, inputs = produce_recorded(settings, args.records)
    else:
        records, inputs = produce_synthetic(settings, args.symbols, args.records, args.trade_every)
    gc.collect()  # a consumer process holds no feed heap; left alive, it would tax both sides' GC

    # Alternating the two, each time with fresh consumer groups over the same records, and taking
    # medians: on a shared machine one pair of runs can be off by 2x either way.
    refs: list[float] = []
    ours_runs: list[float] = []
    for rep in range(args.repeat):
        reference, _ = throughput(TorghutRuntime(Passthrough(inputs, sink), settings, f"copy-{tag}-{rep}"),
                                  records)
        state_runtime = TorghutRuntime(StateProcessor(), settings, f"state-{tag}-{rep}")
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
    if args.recorded:
        report("state_throughput_recorded", ours, reference, "records/s")
    elif args.trade_every:
        report("state_throughput_mixed", ours, reference, "records/s")
    else:
        report("state_throughput", ours, reference, "quotes/s")


if __name__ == "__main__":
    main()
