"""A deterministic synthetic Torghut market (quotes, trades, our orders' acknowledgements) for tests and benchmarks.

Why here and not in the product: nothing the product runs draws from it; the offline-driver tests,
the Kafka integration tests and the throughput benchmarks all need the same, exactly Torghut-shaped
input, so they share this one generator. The envelopes come from the product's own builders
(producers/torghut_envelopes.py). Everything is deterministic (a seeded ``random.Random``), never
wall-clock based.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from producers.torghut_envelopes import NS_PER_MS, quote_envelope, trade_envelope, trade_update_envelope
from streams.processor import SourceRecord
from torghut_domain.topics import topic


def synthetic_market(symbols: list[str], n_events: int, *, seed: int = 7, start_ns: int = 1_767_000_000 * 10**9,
                     step_ms: float = 10.0, trade_every: int = 5, order_every: int = 0,
                     partitions: int = 1) -> Iterator[SourceRecord]:
    """A deterministic interleaved quote/trade(/trade-update) stream over ``symbols`` as SourceRecords.

    Each step picks a symbol, moves its mid by -1/0/+1 cents and its touch sizes at random; every
    ``trade_every``-th event is a trade at the touch instead, and with ``order_every`` > 0 every
    ``order_every``-th event is the acknowledgement (``new``) of one of our limit orders submitted
    20-60 ms earlier. Partition = symbol's position modulo ``partitions``, so per-symbol order is
    preserved as on a symbol-keyed topic.
    """
    rng = random.Random(seed)
    mids = {s: 100.0 + 10.0 * i for i, s in enumerate(symbols)}
    q_topic, t_topic, u_topic = topic("quotes"), topic("trades"), topic("trade_updates")
    offsets: dict[tuple[str, int], int] = {}
    for n in range(n_events):
        symbol = symbols[rng.randrange(len(symbols))]
        partition = symbols.index(symbol) % partitions
        ts = start_ns + int(n * step_ms * NS_PER_MS)
        mid = mids[symbol] = round(mids[symbol] + rng.choice((-0.01, 0.0, 0.0, 0.01)), 2)
        half = 0.01 * rng.choice((1, 1, 1, 2))
        if order_every and n % order_every == order_every - 1:
            value = trade_update_envelope(symbol, ts, "new", order_id=f"o{n}", limit_price=round(mid - half, 2),
                                          submitted_at_ns=ts - rng.randrange(20, 60) * NS_PER_MS, seq=n)
            tp = u_topic
        elif n % trade_every == trade_every - 1:
            price = round(mid - half if rng.random() < 0.5 else mid + half, 2)
            value = trade_envelope(symbol, ts, price, float(rng.randrange(1, 5) * 100), trade_id=n, seq=n)
            tp = t_topic
        else:
            value = quote_envelope(symbol, ts, round(mid - half, 2), float(rng.randrange(1, 20) * 100),
                                   round(mid + half, 2), float(rng.randrange(1, 20) * 100), seq=n)
            tp = q_topic
        offset = offsets.get((tp, partition), 0)
        offsets[(tp, partition)] = offset + 1
        yield SourceRecord(tp, partition, offset, ts // NS_PER_MS, symbol, value)
