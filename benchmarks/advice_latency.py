"""Quote produced -> the advice it changes visible to a read_committed consumer, at 1,000 quotes/s over
50 symbols, through the real state and advisor consumers (two `microexec run` processes).

    python benchmarks/advice_latency.py [--seconds 30] [--rate 1000] [--symbols 50]

Each advice record names the state record it came from (input_partition/offset) and each state
record names its quote (source_partition/offset), so every advice is traced to the quote that
caused it; the quote's send time is taken just before `produce`, the advice's visibility time when
a read_committed consumer in this process receives it. The reference is Torghut's 250 ms budget
(advice older than that is dropped), so ratio = p99 / 250.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import numpy as np
from _common import ROOT, kafka_settings, report
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from streams.serde import AvroDecoder, Registry
from streams.timeutil import format_ts_ns
from tests.support.kafka_io import create_topics, read_all

KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "shortfall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="quotes per second")
    parser.add_argument("--symbols", type=int, default=50)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    for key in KEYS:
        os.environ[f"MICROEXEC_TOPIC_{key.upper()}"] = f"lat-{key}-{tag}"
    from streams.topics import topic

    settings = kafka_settings()
    create_topics(settings, [(topic(k), 6, k in ("state", "advice")) for k in KEYS])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "microexec.cli", "run", name, "--app-id", f"lat-{name}-{tag}",
                               "--log-level", "WARNING"], env={**env, "MICROEXEC_INSTANCE_ID": f"{name}-{tag}"},
                              cwd=ROOT) for name in ("state", "advisor")]

    registry = Registry(settings.schema_registry_url)
    advice_decoder = AvroDecoder("execution_advice_v1", registry)
    visible: list[tuple[float, dict[str, Any]]] = []
    state_visible: dict[tuple[int, int], float] = {}
    stop = threading.Event()

    def watch() -> None:
        consumer = Consumer({**settings.kafka_common(), "group.id": f"lat-watch-{tag}",
                             "isolation.level": "read_committed", "fetch.wait.max.ms": 5})
        consumer.assign([TopicPartition(name, p, OFFSET_END) for name in (topic("advice"), topic("state"))
                         for p in range(6)])
        while not stop.is_set():
            for msg in consumer.consume(100, timeout=0.01):
                value = msg.value()
                if msg.error() is not None or value is None:
                    continue
                if msg.topic() == topic("state"):
                    state_visible[(msg.partition() or 0, msg.offset() or 0)] = time.time()
                else:
                    visible.append((time.time(), advice_decoder.decode(value)))
        consumer.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    sent: dict[tuple[int, int], float] = {}
    producer = Producer({**settings.kafka_common(), "linger.ms": 5, "partitioner": "murmur2_random",
                         "enable.idempotence": True})
    rng = random.Random(1)
    symbols = [f"L{i:03d}" for i in range(args.symbols)]
    mids = {s: 50.0 + i for i, s in enumerate(symbols)}
    time.sleep(8.0)  # both consumers join their groups and restore (nothing to restore) before the clock starts
    print(f"sending {args.rate:.0f} quotes/s for {args.seconds:.0f} s over {len(symbols)} symbols ...")
    interval, n, start = 1.0 / args.rate, 0, time.time()
    while time.time() - start < args.seconds:
        delay = start + n * interval - time.time()
        if delay > 0:
            time.sleep(delay)
        symbol = symbols[n % len(symbols)]
        mids[symbol] = round(mids[symbol] + rng.choice((-0.01, 0.0, 0.01)), 2)
        now = time.time()
        ts = format_ts_ns(int(now * 1e9))
        half = 0.01 * rng.choice((1, 1, 2))
        envelope = {"ingestTs": ts, "eventTs": ts, "feed": "sip", "channel": "quotes", "symbol": symbol, "seq": n,
                    "payload": {"T": "q", "S": symbol, "bp": round(mids[symbol] - half, 2),
                                "bs": rng.randrange(1, 20) * 100, "ap": round(mids[symbol] + half, 2),
                                "as": rng.randrange(1, 20) * 100, "t": ts}}

        def delivered(err: Any, msg: Any, sent_at: float = now) -> None:
            if err is None:
                sent[(msg.partition(), msg.offset())] = sent_at

        producer.produce(topic("quotes"), json.dumps(envelope).encode(), symbol.encode(),
                         timestamp=int(now * 1000), on_delivery=delivered)
        producer.poll(0)
        n += 1
    producer.flush(30)
    time.sleep(3.0)
    stop.set()
    watcher.join()
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(60)

    state_decoder = AvroDecoder("microstructure_state_v1", registry)
    states = {(m.partition(), m.offset()): state_decoder.decode(m.value()) for m in read_all(settings, topic("state"))}
    latencies, hop1, hop2 = [], [], []
    for seen_at, advice in visible:
        coords = (advice["input_partition"], advice["input_offset"])
        state = states.get(coords)
        if state is None or state["source_topic"] != topic("quotes"):
            continue
        quote_sent = sent.get((state["source_partition"], state["source_offset"]))
        if quote_sent is not None:
            latencies.append((seen_at - quote_sent) * 1000.0)
            if coords in state_visible:
                hop1.append((state_visible[coords] - quote_sent) * 1000.0)
                hop2.append((seen_at - state_visible[coords]) * 1000.0)
    if not latencies:
        raise SystemExit("no advice could be traced to a quote: did the consumers run?")
    lat = np.asarray(latencies)
    p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
    print(f"{n:,} quotes sent, {len(states):,} state records, {len(visible):,} advice records, "
          f"{len(lat):,} traced to their quote")
    print(f"latency quote -> visible advice: p50 {p50:.1f} ms, p90 {np.percentile(lat, 90):.1f} ms, "
          f"p99 {p99:.1f} ms, max {lat.max():.1f} ms (goal p99 <= 250 ms)")
    for name, hop in (("quote -> state visible", hop1), ("state visible -> advice visible", hop2)):
        if hop:
            print(f"  {name}: p50 {np.percentile(hop, 50):.1f} ms, p99 {np.percentile(hop, 99):.1f} ms")
    report("advice_latency_p99", p99, 250.0, "ms")


if __name__ == "__main__":
    main()
