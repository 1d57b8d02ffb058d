"""``--market simulated[:seed]``: the paper engineer's simulated live market as a replay source.

Why reuse it rather than simulate here: the paper split book and this replay must judge the advisor
on the same market (producers.simulated_market: seeded per-symbol models, a regime schedule of
calm / stressed / shock segments). An order arriving in a segment is executed on that segment's
regime model, and the schedule's regime labels the per-regime table (it is the market's truth; the
state's liquidity regime is kept beside it).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from microexec.replay.sources import Market, MarketInputError
from producers.records import QUOTE, TRADE, FeedRecord
from producers.simulated_market.feed import market_records, symbol_records
from producers.simulated_market.regimes import DEFAULT_SEGMENT_S, REGIME_NAMES, regime_model, schedule, segments
from producers.simulated_market.symbols import symbol_model, symbol_names
from simulator.calibration import DimensionReport, calibrate, flow_from_envelopes
from simulator.market.model import MarketModel
from streams.timeutil import parse_ts_ns

DEFAULT_START = "2026-01-05T14:30:00Z"


def parse_simulated(spec: str) -> int | None:
    """``simulated`` -> 1, ``simulated:7`` -> 7; anything else -> None (not a simulated spec)."""
    if spec == "simulated":
        return 1
    if spec.startswith("simulated:"):
        text = spec.split(":", 1)[1]
        if not text.isdigit():
            raise MarketInputError(f"--market {spec}: the seed after 'simulated:' must be a non-negative integer")
        return int(text)
    return None


def _records(seed: int, symbols: list[str], start_ns: int, seconds: float, segment_s: float,
             regime: str | None) -> Iterator[FeedRecord]:
    if regime is None:
        return market_records(seed, symbols, start_ns, seconds, segment_s=segment_s)
    # One regime forced on every segment: each symbol's feed, merged as market_records merges them.
    streams = [(((r.ts_ns, i), r) for r in symbol_records(seed, s, start_ns, seconds, segment_s=segment_s,
                                                            regime=regime)) for i, s in enumerate(symbols)]
    return (record for _, record in heapq.merge(*streams, key=lambda item: item[0]))


def load_simulated_market(seed: int, *, seconds: float, n_symbols: int = 1, segment_s: float = DEFAULT_SEGMENT_S,
                          start: str = DEFAULT_START, regime: str | None = None, ks: bool = True,
                          tick: Callable[[int], None] = lambda _n: None,
                          say: Callable[[str], None] = lambda _m: None) -> Market:
    """The feed over ``seconds`` of event time, the per-order regime models, and a calibration of a
    single stationary model on the first symbol's feed (its KS figures show how far one Hawkes law
    is from a regime-switching market). ``regime`` forces one regime on the whole run instead of
    the seeded schedule (to study calm, stressed or shock markets one at a time). ``ks=False`` skips
    that calibration (no KS figures; the tuning script does not report them)."""
    if not seconds > 0:
        raise MarketInputError("--seconds must be positive for a simulated market")
    if regime is not None and regime not in REGIME_NAMES:
        raise MarketInputError(f"--regime must be one of {', '.join(REGIME_NAMES)}, not {regime!r}")
    start_ns = parse_ts_ns(start)
    symbols = symbol_names(n_symbols)
    feed = []
    for record in _records(seed, symbols, start_ns, seconds, segment_s, regime):
        feed.append(record)
        if len(feed) % 5000 == 0:
            tick(len(feed))
    calm: dict[str, MarketModel] = {s: symbol_model(seed, s) for s in symbols}

    def model_at(symbol: str, ts_ns: int) -> tuple[MarketModel, str | None]:
        now = regime or schedule(seed, symbol, max(0.0, (ts_ns - start_ns) / 1e9), segment_s)
        return regime_model(calm[symbol], now), now

    dims: list[DimensionReport] = []
    if ks:
        first = [r.value for r in feed if r.symbol == symbols[0] and r.kind in (QUOTE, TRADE)]
        say("calibrating a stationary model on the simulated feed (KS figures)")
        dims = calibrate(flow_from_envelopes(first, tick_size=calm[symbols[0]].tick_size, source="simulated")).dims
    counts: dict[str, float] = {}
    for a, z, scheduled in segments(seed, symbols[0], seconds, segment_s):
        counts[regime or scheduled] = counts.get(regime or scheduled, 0.0) + (z - a)
    mix = ", ".join(f"{r} {v:.0f} s" for r, v in sorted(counts.items()))
    how = f"regime forced to {regime}" if regime else f"{segment_s:.0f} s regime segments"
    notes = [f"simulated market seed {seed}, {seconds:.0f} s from {start}, {how} ({symbols[0]}: {mix})",
             f"{len(feed):,} feed records",
             "KS figures: one stationary model fitted on the simulated top-of-book feed"]
    return Market("simulated", symbols, feed, model_at, dims,
                  [{"path": f"simulated:{seed}", "sha256": ""}], notes)
