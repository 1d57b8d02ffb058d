"""Quote produced -> the advice it changes visible to a read_committed consumer, at 1,000 quotes/s over
50 symbols, through the real state and advisor consumers (two `microexec run` processes).

    python benchmarks/advice_latency.py [--seconds 30] [--rate 1000] [--symbols 50] [--lateness-ms N]

Each advice record names the state record it came from (input_partition/offset) and each state
record names its quote (source_partition/offset), so every advice is traced to the quote that
caused it; the quote's send time is taken just before `produce`, the advice's visibility time when
a read_committed consumer in this process receives it. The reference is Torghut's 250 ms budget
(advice older than that is dropped), so ratio = p99 / 250. The advice's own `latency_ms` (ingest ->
advice produced, measured by the advisor) is reported beside it.

The event-time merge's lateness bound is in force and printed (docs/ordering.md): the state
consumer holds a quote until its dense inputs are the bound past it (only quotes are sent here, so
the trades topic is empty and at its end: the full bound is paid), and the advisor waits for no
shortfall by default. ``--lateness-ms`` sets MICROEXEC_LATENESS_MS for both consumers.

``--contention`` measures under load (benchmarks/_contention.py): while the feed runs, the broker
compacts a compacted topic written at 5,000 updates/s with 2 s segments, and a third consumer
(another `microexec run state`, its own group and topics) catches up on a backlog of
``--backlog`` records from the start. Reported as ``advice_latency_p99_contention`` (goal <= 250 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import time
import uuid

import numpy as np
from _common import kafka_settings, report
from _contention import fill_backlog, start_compaction
from _hop_metrics import describe
from _pipeline import QuoteFeed, Watcher, start_consumers, stop_consumers, trace

from tests.support.kafka_io import create_topics

KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "shortfall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="quotes per second")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--contention", action="store_true",
                        help="also compact a busy topic and run a catching-up state consumer meanwhile")
    parser.add_argument("--backlog", type=int, default=600_000, help="records the catching-up consumer replays")
    parser.add_argument("--lateness-ms", type=int, default=None,
                        help="MICROEXEC_LATENESS_MS for the consumers (default: the environment's, else 50)")
    args = parser.parse_args()
    if args.lateness_ms is not None:
        os.environ["MICROEXEC_LATENESS_MS"] = str(args.lateness_ms)
    tag = uuid.uuid4().hex[:8]
    for key in KEYS:
        os.environ[f"MICROEXEC_TOPIC_{key.upper()}"] = f"lat-{key}-{tag}"
    from torghut_domain.topics import topic

    settings = kafka_settings()
    from consumers.advisor.processor import AdvisorProcessor
    from consumers.state.processor import StateProcessor
    from streams.merging import merger_for

    bounds = {name: merger_for(p, settings) for name, p in (("state", StateProcessor()),
                                                            ("advisor", AdvisorProcessor()))}
    print("lateness bounds in force (ms, by input topic): " + "; ".join(
        f"{name}: {m.lateness if m else {}}" for name, m in bounds.items()))
    create_topics(settings, [(topic(k), 6, k in ("state", "advice")) for k in KEYS])
    metrics_base = random.Random(tag).randrange(20_000, 40_000, 2)  # /metrics of both consumers, for the split
    procs = start_consumers(("state", "advisor"), tag, dict(os.environ), metrics_port_base=metrics_base)
    catchup: dict[str, subprocess.Popen[bytes]] = {}
    if args.contention:
        ctag = f"c{tag}"
        cenv = {**os.environ, **{f"MICROEXEC_TOPIC_{k.upper()}": f"catchup-{k}-{ctag}" for k in KEYS}}
        create_topics(settings, [(f"catchup-{k}-{ctag}", 6, k == "state") for k in KEYS])
        started = time.time()
        n = fill_backlog(settings, f"catchup-quotes-{ctag}", f"catchup-trades-{ctag}", args.backlog,
                         [f"B{i:03d}" for i in range(200)])
        print(f"backlog for the catching-up consumer: {n:,} records in {time.time() - started:.0f} s")
    watcher = Watcher(settings, topic("state"), topic("advice"))
    watcher.start()
    feed = QuoteFeed(settings, topic("quotes"), topic("trades"), [f"L{i:03d}" for i in range(args.symbols)])
    time.sleep(8.0)  # both consumers join their groups and restore (nothing to restore) before the clock starts
    compactor = None
    if args.contention:
        compactor = start_compaction(settings, f"compacting-{tag}", args.seconds + 5.0)
        catchup = start_consumers(("state",), f"c{tag}", cenv)
        time.sleep(3.0)  # the catching-up consumer is past its start-up and replaying when the clock starts
    print(f"sending {args.rate:.0f} quotes/s for {args.seconds:.0f} s over {args.symbols} symbols ...")
    sent = feed.run(args.rate, args.seconds)
    time.sleep(3.0)
    hops = [describe(name, metrics_base + i, args.seconds + 11.0) for i, name in enumerate(("state", "advisor"))]
    watcher.stop()
    stop_consumers(procs)
    if args.contention:
        still_behind = catchup["state"].poll() is None
        stop_consumers(catchup)
        if compactor is not None:
            compactor.wait(30)
        print(f"contention: compaction writer done; the catching-up consumer was "
              f"{'still replaying' if still_behind else 'NOT running'} when the feed ended")
    traced = trace(settings, watcher, feed, topic("quotes"))
    print(f"{sent:,} quotes sent; {traced.summary()} (goal p99 <= 250 ms)")
    for name, hop in (("quote -> state visible", traced.to_state), ("state visible -> advice visible",
                                                                   traced.state_to_advice)):
        if hop.size:
            print(f"  {name}: p50 {np.percentile(hop, 50):.1f} ms, p99 {np.percentile(hop, 99):.1f} ms")
    print("where a hop's time goes, from each consumer's /metrics (commits over the whole run, ~"
          f"{args.seconds + 11:.0f} s):")
    print("\n".join(hops))
    own = np.asarray([a["latency_ms"] for _, a in watcher.advice if a["fallback_reason"] is None])
    if own.size:
        print(f"  advice latency_ms as the advisor measured it (ingest -> produced): p50 "
              f"{np.percentile(own, 50):.1f} ms, p99 {np.percentile(own, 99):.1f} ms")
    name = ("advice_latency_p99_contention" if args.contention
            else f"advice_latency_p99_lateness_{settings.lateness_ms}ms")
    report(name, float(np.percentile(traced.total, 99)), 250.0, "ms")


if __name__ == "__main__":
    main()
