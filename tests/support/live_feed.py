"""A live Torghut-format market for tests: quotes, trades and sparse trade-updates for many symbols,
produced concurrently by one thread per topic, paced so that event time runs with the wall clock.

Why paced threads: the ordering problem of issue 13 only shows when topics arrive interleaved by
the network, as on a live feed; a backlog produced before the consumer starts never shows it.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from confluent_kafka import Producer

from producers.torghut_envelopes import quote_envelope, trade_envelope, trade_update_envelope
from streams.settings import Settings

MS = 1_000_000


@dataclass
class Market:
    """(event_ns, key, value) per topic key, each in event-time order."""

    quotes: list[tuple[int, str, bytes]] = field(default_factory=list)
    trades: list[tuple[int, str, bytes]] = field(default_factory=list)
    trade_updates: list[tuple[int, str, bytes]] = field(default_factory=list)


def market(symbols: list[str], seconds: float, start_ns: int, *, quote_rate: int = 4000, trade_rate: int = 1000,
           order_every_s: float = 0.25, seed: int = 13) -> Market:
    """Quotes round-robin over ``symbols`` (random-walk mids), trades at the touch of a random symbol,
    one limit order (new, then fill) every ``order_every_s``."""
    rng = random.Random(seed)
    mids = {s: 50.0 + 3.0 * i for i, s in enumerate(symbols)}
    touch = {s: (mids[s] - 0.01, mids[s] + 0.01) for s in symbols}
    out = Market()
    q_step, t_step = 1_000_000_000 // quote_rate, 1_000_000_000 // trade_rate
    end = start_ns + int(seconds * 1e9)
    next_q, next_t, next_o = start_ns, start_ns + t_step // 2, start_ns + 50 * MS
    k = n = o = 0
    while min(next_q, next_t) < end:
        if next_q <= next_t:
            s = symbols[k % len(symbols)]
            mids[s] = max(1.0, mids[s] + rng.gauss(0.0, 0.01))
            half = 0.005 + 0.01 * rng.randint(0, 2)
            bid, ask = round(mids[s] - half, 4), round(mids[s] + half, 4)
            touch[s] = (bid, ask)
            env = quote_envelope(s, next_q, bid, rng.randint(1, 20) * 100.0, ask, rng.randint(1, 20) * 100.0,
                                 ingest_lag_ms=2.0, seq=k)
            out.quotes.append((next_q, s, json.dumps(env).encode()))
            k += 1
            next_q += q_step
        else:
            s = rng.choice(symbols)
            bid, ask = touch[s]
            env = trade_envelope(s, next_t, bid if rng.random() < 0.5 else ask, rng.randint(1, 5) * 100.0,
                                 trade_id=n, ingest_lag_ms=2.0, seq=n)
            out.trades.append((next_t, s, json.dumps(env).encode()))
            n += 1
            next_t += t_step
        while next_o < min(next_q, next_t) and next_o < end:
            s = rng.choice(symbols)
            order = f"o{o}"
            for ts, event, filled in ((next_o, "new", 0.0), (next_o + 20 * MS, "fill", 100.0)):
                env = trade_update_envelope(s, ts, event, order_id=order, submitted_at_ns=next_o - 3 * MS,
                                            limit_price=touch[s][0], filled_qty=filled,
                                            fill_price=touch[s][0] if filled else None,
                                            fill_qty=filled if filled else None, seq=o)
                out.trade_updates.append((ts, s, json.dumps(env).encode()))
            o += 1
            next_o += int(order_every_s * 1e9)
    out.trade_updates.sort(key=lambda r: r[0])
    return out


class PacedProducer(threading.Thread):
    """Produces ``records`` to ``topic`` when the wall clock reaches their event time (plus
    ``delay_s``), relative to (``wall0``, ``event0``); Kafka timestamps are the event times."""

    def __init__(self, settings: Settings, topic: str, records: list[tuple[int, str, bytes]], wall0: float,
                 event0: int, delay_s: float = 0.0) -> None:
        super().__init__(daemon=True, name=f"feed-{topic}")
        self.producer = Producer({**settings.kafka_common(), "enable.idempotence": True, "linger.ms": 2,
                                  "partitioner": "murmur2_random"})
        self.topic, self.records, self.wall0, self.event0, self.delay_s = topic, records, wall0, event0, delay_s
        self.sent = 0
        self.max_lag_s = 0.0  # how far behind its schedule the thread fell (CPU starvation)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for event_ns, key, value in self.records:
                due = self.wall0 + self.delay_s + (event_ns - self.event0) / 1e9
                wait = due - time.monotonic()
                if wait > 0.0005:
                    time.sleep(wait)
                while True:
                    try:
                        self.producer.produce(self.topic, value, key, timestamp=event_ns // MS)
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                self.producer.poll(0)
                self.sent += 1
                lag = time.monotonic() - due
                if lag > self.max_lag_s:
                    self.max_lag_s = lag
            if self.producer.flush(30) != 0:
                raise RuntimeError(f"{self.topic}: records left unsent")
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc


def scrape(port: int, metric: str) -> dict[str, float]:
    """``metric``'s samples on a /metrics endpoint, by their label string."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for m in re.finditer(rf"^{metric}(\{{[^}}]*\}})? ([0-9.e+-]+)$", body, re.MULTILINE):
        out[m.group(1) or ""] = float(m.group(2))
    return out
