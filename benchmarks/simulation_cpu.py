"""CPU seconds the simulation consumer needs per second of ``order_to_expectation``'s feed, without Kafka.

    python benchmarks/simulation_cpu.py [--seconds 60] [--commit-every 12] [--no-orders]

Why a second measure of the same workload: ``order_to_expectation`` times wall-clock latency on a
machine shared with the broker, the feed producer and whatever else runs, so its figures move with
the load; the CPU this consumer spends per second of feed does not, and it decides whether the
consumer keeps up at all (at or above the cores it gets, orders queue and latency grows without
bound). Same feed as ``order_to_expectation`` (1,000 quotes/s plus one trade per five quotes over 20
symbols, one 1,000-path order per second after 20 s, its ``MICROEXEC_SIM_*`` settings), driven through
``SimulationProcessor.process`` on keyed state per partition; every ``--commit-every`` records the
touched state is JSON-encoded as the changelog would (the live runtime commits whenever it is caught
up, every ~10-30 ms at this rate). Reference: 1.0 CPU second per second (one core of the two).
"""

from __future__ import annotations

import argparse
import os
import random
import time

from _common import report
from order_to_expectation import SIM_ENV


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of feed after the 20 s warm-up")
    ap.add_argument("--commit-every", type=int, default=12, help="records between changelog encodes")
    ap.add_argument("--no-orders", action="store_true")
    args = ap.parse_args()
    os.environ.update(SIM_ENV)
    from consumers.simulation.processor import SimulationProcessor
    from producers.torghut_envelopes import quote_envelope, trade_envelope, trade_update_envelope
    from streams.processor import SourceRecord
    from streams.state import TransactionalState, canonical_json
    from torghut_domain.topics import topic

    proc = SimulationProcessor()
    proc.warm_up()
    rng = random.Random(1)
    symbols = [f"S{i:02d}" for i in range(20)]
    part = {s: i % 6 for i, s in enumerate(symbols)}
    mids = {s: round(50.0 + 7.5 * i, 2) for i, s in enumerate(symbols)}
    t0 = 1_767_000_000 * 10**9
    warm_s = 20.0
    n_total = int((warm_s + args.seconds) * 1000)
    states = {p: TransactionalState() for p in range(6)}
    cpu = {"market": 0.0, "orders": 0.0, "changelog": 0.0}
    n_rec = n_orders = 0

    def run(kind: str, record: SourceRecord) -> None:
        nonlocal n_rec
        c = time.process_time()
        proc.process(record, states[record.partition])
        cpu[kind] += time.process_time() - c
        n_rec += 1
        if n_rec % args.commit_every == 0:
            c = time.process_time()
            for st in states.values():
                for _, value in st.dirty():
                    if value is not None:
                        canonical_json(value)
                st.commit()
            cpu["changelog"] += time.process_time() - c

    for n in range(n_total):
        ts = t0 + n * 1_000_000
        s = symbols[n % 20]
        mids[s] = round(mids[s] + rng.choice((-0.01, 0.0, 0.0, 0.01)), 2)
        half = 0.01 * rng.choice((1, 1, 2))
        q = quote_envelope(s, ts, round(mids[s] - half, 2), rng.randrange(1, 20) * 100, round(mids[s] + half, 2),
                           rng.randrange(1, 20) * 100, seq=n)
        run("market", SourceRecord(topic("quotes"), part[s], n, ts // 10**6, s, q))
        if n % 5 == 4:
            ts2 = symbols[(n // 5) % 20]
            tr = trade_envelope(ts2, ts, round(mids[ts2] + 0.01, 2), rng.randrange(1, 5) * 100, trade_id=n, seq=n)
            run("market", SourceRecord(topic("trades"), part[ts2], n, ts // 10**6, ts2, tr))
        if not args.no_orders and n >= warm_s * 1000 and n % 1000 == 0:
            os_ = symbols[n_orders % 20]
            o = trade_update_envelope(os_, ts, "new", order_id=f"o-{n_orders}", side=rng.choice(("buy", "sell")),
                                      qty=float(rng.randrange(1, 6) * 100), submitted_at_ns=ts - 20_000_000,
                                      limit_price=mids[os_], seq=n_orders)
            run("orders", SourceRecord(topic("trade_updates"), part[os_], n_orders, ts // 10**6, os_, o))
            n_orders += 1
    feed_s = n_total / 1000.0
    total = sum(cpu.values())
    each = f" = {cpu['orders'] / n_orders:.3f} s each" if n_orders else ""
    print(f"{feed_s:.0f} s of feed, {n_rec:,} records, {n_orders} orders: CPU {total:.2f} s = "
          f"{total / feed_s:.3f} s per feed second (market records incl. fits and reference orders "
          f"{cpu['market']:.2f} s, orders {cpu['orders']:.2f} s{each}, changelog encoding {cpu['changelog']:.2f} s)")
    report("simulation_cpu", total / feed_s, 1.0, "CPU seconds per second of order_to_expectation's feed")


if __name__ == "__main__":
    main()
