"""Deterministic Torghut-format feeds for tests (TORGHUT.md shapes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from producers import torghut_envelopes

BASE_NS = 1_795_000_000_000_000_000  # 2026-11-18, an arbitrary fixed event-time origin


def quote_envelope(symbol: str, ts_ns: int, bid: float, ask: float, bid_size: float, ask_size: float,
                   seq: int) -> dict[str, Any]:
    """The shared Torghut quote builder (producers.torghut_envelopes) with a 2 ms ingest lag."""
    return torghut_envelopes.quote_envelope(symbol, ts_ns, bid, bid_size, ask, ask_size, ingest_lag_ms=2.0, seq=seq)


def quote_feed(n: int, symbols: list[str], seed: int = 7, step_ns: int = 1_000_000) -> list[tuple[str, bytes]]:
    """n quotes round-robin over symbols, random-walk mids, as (key, JSON bytes)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    mids = {s: 100.0 + 10 * i for i, s in enumerate(symbols)}
    out = []
    for i in range(n):
        symbol = symbols[i % len(symbols)]
        mids[symbol] = max(1.0, mids[symbol] + float(rng.normal(0, 0.01)))
        half = 0.005 + float(rng.integers(0, 3)) * 0.01
        bid, ask = round(mids[symbol] - half, 4), round(mids[symbol] + half, 4)
        env = quote_envelope(symbol, BASE_NS + i * step_ns, bid, ask, float(rng.integers(1, 20) * 100),
                             float(rng.integers(1, 20) * 100), i)
        out.append((symbol, json.dumps(env).encode()))
    return out
