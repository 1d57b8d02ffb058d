"""Load the latency benchmarks can run beside the measured pipeline: the broker compacting a busy
compacted topic, and another state consumer catching up on a backlog (as after a quant's rewind).

Why these two: they are what a production broker does while Torghut waits for advice. The log
cleaner rewrites segments of every compacted topic (state, advice and every changelog are
compacted), and a consumer catching up fetches and commits as fast as it can, on the same broker
and (here) the same two cores.

    python benchmarks/_contention.py compact --topic T --seconds S [--rate 5000] [--keys 200]

runs the compaction writer (a separate process, so its producer does not share the measuring
process's interpreter with the paced feed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from _common import ROOT

from streams.settings import Settings
from tests.support.kafka_io import create_topics

# Small segments, an eager cleaner: the topic is compacted again and again while the run lasts.
COMPACTING_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.ms": "2000", "segment.bytes": "1048576",
                           "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0", "retention.ms": "-1"}


def start_compaction(settings: Settings, topic: str, seconds: float, rate: float = 5000.0,
                     keys: int = 200) -> subprocess.Popen[bytes]:
    """Create ``topic`` compacted with small segments and start writing ``rate`` updates/s of ``keys`` keys."""
    create_topics(settings, [(topic, 3, True)], COMPACTING_TOPIC_CONFIG)
    return subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "_contention.py"), "compact", "--topic", topic,
                             "--seconds", str(seconds), "--rate", str(rate), "--keys", str(keys)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def fill_backlog(settings: Settings, quotes_topic: str, trades_topic: str, records: int, symbols: Sequence[str]) -> int:
    """``records`` Torghut quotes and trades (one in ten) already on the topics: the backlog a
    rewound consumer replays."""
    import json

    from confluent_kafka import Producer

    from tests.support.synthetic_market import synthetic_market
    from torghut_domain.topics import topic

    producer = Producer({**settings.kafka_common(), "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 500000, "compression.type": "lz4"})
    trades = topic("trades")  # synthetic_market names the environment's topics; map them to the backlog's
    n = 0
    for rec in synthetic_market(list(symbols), records, seed=11, trade_every=10):
        name = trades_topic if rec.topic == trades else quotes_topic
        while True:
            try:
                producer.produce(name, json.dumps(rec.value).encode(), rec.key, timestamp=rec.timestamp_ms)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    return n


def _compact(topic: str, seconds: float, rate: float, keys: int) -> None:
    from confluent_kafka import Producer

    from streams.settings import load_settings

    producer = Producer({**load_settings().kafka_common(), "linger.ms": 5, "compression.type": "none"})
    value = b"x" * 1000
    interval, n, start = 1.0 / rate, 0, time.time()
    while time.time() - start < seconds:
        delay = start + n * interval - time.time()
        if delay > 0:
            time.sleep(min(delay, 0.01))
            continue
        try:
            producer.produce(topic, value, f"k{n % keys}".encode())
        except BufferError:
            producer.poll(0.05)
            continue
        producer.poll(0)
        n += 1
    producer.flush(30)
    print(f"compaction load: {n:,} updates of {keys} keys on {topic}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("what", choices=["compact"])
    p.add_argument("--topic", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--rate", type=float, default=5000.0)
    p.add_argument("--keys", type=int, default=200)
    a = p.parse_args()
    _compact(a.topic, a.seconds, a.rate, a.keys)
