"""Market events per second the whole pipeline sustains, every consumer running, while the p99 of
quote -> visible advice stays within Torghut's 250 ms budget; on this machine, one broker.

    python benchmarks/pipeline_end_to_end.py [--rates 500,1000,2000,3000,4000] [--step-seconds 15]

Every consumer in `microexec run` (state, advisor and, where built, simulation, tca, alerts) runs as
its own process. The feed is quotes with one trade in ten over 20 symbols, plus one parent order a
second (Torghut trade-updates: new, two partial fills, fill), so the simulation and TCA consumers
work too. Rates are stepped up; each step runs ``--step-seconds`` and its quote -> advice p99 is
traced through the records' provenance (as benchmarks/advice_latency.py does). "Sustained" is the
highest rate whose p99 is within 250 ms and whose backlog drained (every quote's state became
visible). Reference, same run, same broker: the runtime passthrough (one exactly-once consumer
that copies records), records/s; ratio = sustained / passthrough.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

import numpy as np
from _common import kafka_settings, report
from _pipeline import QuoteFeed, Watcher, start_consumers, stop_consumers, trace
from confluent_kafka import Producer
from runtime_passthrough import runtime_loop

from consumers.cli import CONSUMERS
from producers.torghut_envelopes import trade_update_envelope
from tests.support.feeds import quote_feed
from tests.support.kafka_io import create_topics, produce_all

BUDGET_MS = 250.0


class OrderFeed:
    """One parent order a second, round-robin over the symbols: new, two partial fills, fill."""

    def __init__(self, producer: Producer, updates_topic: str, feed: QuoteFeed) -> None:
        self.producer, self.topic, self.feed = producer, updates_topic, feed
        self.next_at = 0.0
        self.count = 0

    def __call__(self, now: float) -> None:
        if now < self.next_at:
            return
        self.next_at = now + 1.0
        symbol = self.feed.symbols[self.count % len(self.feed.symbols)]
        order_id, t = f"bench-{self.count}", int(now * 1e9)
        mid = self.feed.mids[symbol]
        events = [("new", 0.0, None, None), ("partial_fill", 30.0, mid, 30.0), ("partial_fill", 60.0, mid, 30.0),
                  ("fill", 100.0, mid, 40.0)]
        for k, (event, filled, price, qty) in enumerate(events):
            env = trade_update_envelope(symbol, t + k * 1_000_000, event, order_id=order_id, qty=100.0,
                                        filled_qty=filled, submitted_at_ns=t, limit_price=mid, fill_price=price,
                                        fill_qty=qty, seq=self.count * 4 + k)
            self.producer.produce(self.topic, json.dumps(env).encode(), symbol.encode(), timestamp=t // 1_000_000)
        self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="500,1000,2000,3000,4000", help="records/s steps, ascending")
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--symbols", type=int, default=20)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    tag = uuid.uuid4().hex[:8]
    from torghut_domain.topics import CATALOG, topic

    for spec in CATALOG:
        os.environ[f"MICROEXEC_TOPIC_{spec.key.upper()}"] = f"e2e-{spec.key}-{tag}"
    settings = kafka_settings()
    create_topics(settings, [(topic(s.key), 6, s.compacted) for s in CATALOG])

    # Reference first, on an idle pipeline: the runtime passthrough over 50,000 quotes.
    source, sink = f"e2e-ref-in-{tag}", f"e2e-ref-out-{tag}"
    create_topics(settings, [(source, 6, False), (sink, 6, False)])
    produce_all(settings, source, quote_feed(50_000, [f"S{i:03d}" for i in range(200)]))
    reference, _ = runtime_loop(settings, source, sink, 50_000)
    print(f"reference (runtime passthrough): {reference:,.0f} records/s")

    names = sorted(CONSUMERS)
    print(f"starting consumers: {', '.join(names)}")
    procs = start_consumers(names, tag, dict(os.environ))
    watcher = Watcher(settings, topic("state"), topic("advice"))
    watcher.start()
    feed = QuoteFeed(settings, topic("quotes"), topic("trades"), [f"E{i:02d}" for i in range(args.symbols)],
                     trade_every=10)
    orders = OrderFeed(feed.producer, topic("trade_updates"), feed)
    time.sleep(10.0)  # consumers join, restore and compile before the clock starts
    sustained = 0.0
    try:
        for rate in rates:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                raise SystemExit(f"consumers exited during the run: {dead}")
            since = time.time()
            sent_before = len(feed.sent)
            feed.run(rate, args.step_seconds, between=orders)
            time.sleep(3.0)  # let the last quotes of the step come through
            traced = trace(settings, watcher, feed, topic("quotes"), since=since)
            p99 = float(np.percentile(traced.total, 99))
            quotes_sent = len(feed.sent) - sent_before
            drained = traced.total.size > 0
            print(f"{rate:,.0f} records/s ({quotes_sent:,} quotes, {orders.count} orders so far): p99 {p99:.1f} ms, "
                  f"p50 {np.percentile(traced.total, 50):.1f} ms")
            if p99 > BUDGET_MS or not drained:
                break
            sustained = rate
    finally:
        watcher.stop()
        codes = stop_consumers(procs)
    print(f"consumer exit codes: {codes}")
    print(f"sustained {sustained:,.0f} market events/s with p99 quote -> advice <= {BUDGET_MS:.0f} ms "
          f"(passthrough {reference:,.0f} records/s)")
    report("pipeline_end_to_end", sustained, reference, "market events/s (reference: runtime passthrough)")


if __name__ == "__main__":
    main()
