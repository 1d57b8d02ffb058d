"""What the latency benchmarks share: consumers as `microexec run` processes, a paced quote feed
with real ingest times, a read_committed watcher of state and advice, and the tracing of each advice
back to the quote that caused it (advice -> state record -> quote, through their provenance fields).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import ROOT
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from streams.serde import AvroDecoder, Registry
from streams.settings import Settings
from streams.timeutil import format_ts_ns
from tests.support.kafka_io import read_all


def start_consumers(names: Sequence[str], tag: str, env: dict[str, str],
                    metrics_port_base: int = 0) -> dict[str, subprocess.Popen[bytes]]:
    """One `microexec run <name>` process per consumer, each its own group and instance id."""
    procs = {}
    for i, name in enumerate(names):
        child_env = {**env, "PYTHONPATH": str(ROOT), "MICROEXEC_INSTANCE_ID": f"{name}-{tag}"}
        if metrics_port_base:
            child_env["MICROEXEC_METRICS_PORT"] = str(metrics_port_base + i)
        procs[name] = subprocess.Popen([sys.executable, "-m", "microexec.cli", "run", name, "--app-id",
                                        f"bench-{name}-{tag}", "--log-level", "WARNING"], env=child_env, cwd=ROOT)
    return procs


def stop_consumers(procs: dict[str, subprocess.Popen[bytes]], timeout_s: float = 60.0) -> dict[str, int]:
    """SIGTERM every consumer, SIGKILL what has not exited within ``timeout_s``; exit codes by name."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = {}
    deadline = time.monotonic() + timeout_s
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[name] = proc.wait()
    return codes


@dataclass
class Watcher:
    """Reads state and advice as Torghut would (read_committed, from the end) and stamps arrivals."""

    settings: Settings
    state_topic: str
    advice_topic: str
    partitions: int = 6
    advice: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    state_seen: dict[tuple[int, int], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        decoder = AvroDecoder("execution_advice_v1", Registry(self.settings.schema_registry_url))

        def watch() -> None:
            consumer = Consumer({**self.settings.kafka_common(), "group.id": f"watch-{id(self)}",
                                 "isolation.level": "read_committed", "fetch.wait.max.ms": 5})
            consumer.assign([TopicPartition(name, p, OFFSET_END) for name in (self.advice_topic, self.state_topic)
                             for p in range(self.partitions)])
            while not self._stop.is_set():
                for msg in consumer.consume(200, timeout=0.01):
                    value = msg.value()
                    if msg.error() is not None or value is None:
                        continue
                    if msg.topic() == self.state_topic:
                        self.state_seen[(msg.partition() or 0, msg.offset() or 0)] = time.time()
                    else:
                        self.advice.append((time.time(), decoder.decode(value)))
            consumer.close()

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


class QuoteFeed:
    """Paced Torghut quotes (and every ``trade_every``-th record a trade) over ``symbols``, stamped
    with the wall clock as a live feed stamps ``ingestTs``; send times kept per (partition, offset)."""

    def __init__(self, settings: Settings, quotes_topic: str, trades_topic: str, symbols: Sequence[str],
                 seed: int = 1, trade_every: int = 0) -> None:
        self.producer = Producer({**settings.kafka_common(), "linger.ms": 5, "partitioner": "murmur2_random",
                                  "enable.idempotence": True})
        self.quotes_topic, self.trades_topic, self.trade_every = quotes_topic, trades_topic, trade_every
        self.rng = random.Random(seed)
        self.symbols = list(symbols)
        self.mids = {s: 50.0 + i for i, s in enumerate(self.symbols)}
        self.sent: dict[tuple[int, int], float] = {}
        self.n = 0

    def run(self, rate: float, seconds: float, between: Callable[[float], None] | None = None) -> int:
        """Send at ``rate`` records/s for ``seconds``; ``between(now)`` is called once per record
        (e.g. to interleave order events). Returns the records sent."""
        interval, start, sent0 = 1.0 / rate, time.time(), self.n
        k = 0
        while time.time() - start < seconds:
            delay = start + k * interval - time.time()
            if delay > 0:
                time.sleep(delay)
            self._one(time.time())
            if between is not None:
                between(time.time())
            k += 1
        self.producer.flush(30)
        return self.n - sent0

    def _one(self, now: float) -> None:
        rng, n = self.rng, self.n
        symbol = self.symbols[n % len(self.symbols)]
        self.mids[symbol] = round(self.mids[symbol] + rng.choice((-0.01, 0.0, 0.01)), 2)
        ts = format_ts_ns(int(now * 1e9))
        is_trade = self.trade_every > 0 and n % self.trade_every == self.trade_every - 1
        if is_trade:
            payload: dict[str, Any] = {"T": "t", "S": symbol, "i": n, "x": "V", "p": self.mids[symbol],
                                       "s": rng.randrange(1, 5) * 100, "t": ts}
        else:
            half = 0.01 * rng.choice((1, 1, 2))
            payload = {"T": "q", "S": symbol, "bp": round(self.mids[symbol] - half, 2),
                       "bs": rng.randrange(1, 20) * 100, "ap": round(self.mids[symbol] + half, 2),
                       "as": rng.randrange(1, 20) * 100, "t": ts}
        envelope = {"ingestTs": ts, "eventTs": ts, "feed": "sip", "channel": "trades" if is_trade else "quotes",
                    "symbol": symbol, "seq": n, "payload": payload}

        def delivered(err: Any, msg: Any, sent_at: float = now) -> None:
            if err is None and not is_trade:
                self.sent[(msg.partition(), msg.offset())] = sent_at

        self.producer.produce(self.trades_topic if is_trade else self.quotes_topic, json.dumps(envelope).encode(),
                              symbol.encode(), timestamp=int(now * 1000), on_delivery=delivered)
        self.producer.poll(0)
        self.n += 1


@dataclass(frozen=True)
class Traced:
    """Quote -> visible advice latencies (ms), and the two hops where both were seen."""

    total: np.ndarray
    to_state: np.ndarray
    state_to_advice: np.ndarray
    advice_records: int
    state_records: int

    def summary(self) -> str:
        lat = self.total
        return (f"{self.state_records:,} state records, {self.advice_records:,} advice records, {lat.size:,} traced; "
                f"quote -> advice p50 {np.percentile(lat, 50):.1f} ms, p90 {np.percentile(lat, 90):.1f} ms, "
                f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms")


def trace(settings: Settings, watcher: Watcher, feed: QuoteFeed, quotes_topic: str,
          since: float = 0.0) -> Traced:
    """Trace each advice seen after ``since`` (wall time) to the quote behind its state record."""
    decoder = AvroDecoder("microstructure_state_v1", Registry(settings.schema_registry_url))
    states = {(m.partition(), m.offset()): decoder.decode(m.value()) for m in read_all(settings, watcher.state_topic)}
    total, hop1, hop2 = [], [], []
    seen = [(t, a) for t, a in watcher.advice if t >= since]
    for seen_at, advice in seen:
        coords = (advice["input_partition"], advice["input_offset"])
        state = states.get(coords)
        if state is None or state["source_topic"] != quotes_topic:
            continue
        quote_sent = feed.sent.get((state["source_partition"], state["source_offset"]))
        if quote_sent is None:
            continue
        total.append((seen_at - quote_sent) * 1000.0)
        if coords in watcher.state_seen:
            hop1.append((watcher.state_seen[coords] - quote_sent) * 1000.0)
            hop2.append((seen_at - watcher.state_seen[coords]) * 1000.0)
    if not total:
        raise SystemExit("no advice could be traced to a quote: did the consumers run?")
    return Traced(np.asarray(total), np.asarray(hop1), np.asarray(hop2), len(seen), len(states))
