"""``--market simulated[:seed]``: the paper engineer's simulated live market as a replay source.

Why reuse it rather than simulate here: the paper split book and this replay must judge the advisor
on the same market (producers.simulated_market: seeded per-symbol models, a regime schedule of
calm / stressed / shock segments). An order arriving in a segment is executed on that segment's
regime model, and the schedule's regime labels the per-regime table (it is the market's truth; the
state's liquidity regime is kept beside it).
"""

from __future__ import annotations

from collections.abc import Callable

from microexec.replay.sources import Market, MarketInputError
from producers.records import QUOTE, TRADE
from producers.simulated_market.feed import market_records
from producers.simulated_market.regimes import DEFAULT_SEGMENT_S, regime_model, schedule, segments
from producers.simulated_market.symbols import symbol_model, symbol_names
from simulator.calibration import calibrate, flow_from_envelopes
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


def load_simulated_market(seed: int, *, seconds: float, n_symbols: int = 1, segment_s: float = DEFAULT_SEGMENT_S,
                          start: str = DEFAULT_START, tick: Callable[[int], None] = lambda _n: None,
                          say: Callable[[str], None] = lambda _m: None) -> Market:
    """The feed over ``seconds`` of event time, the per-order regime models, and a calibration of a
    single stationary model on the first symbol's feed (its KS figures show how far one Hawkes law
    is from a regime-switching market)."""
    if not seconds > 0:
        raise MarketInputError("--seconds must be positive for a simulated market")
    start_ns = parse_ts_ns(start)
    symbols = symbol_names(n_symbols)
    feed = []
    for record in market_records(seed, symbols, start_ns, seconds, segment_s=segment_s):
        feed.append(record)
        if len(feed) % 5000 == 0:
            tick(len(feed))
    calm: dict[str, MarketModel] = {s: symbol_model(seed, s) for s in symbols}

    def model_at(symbol: str, ts_ns: int) -> tuple[MarketModel, str | None]:
        regime = schedule(seed, symbol, max(0.0, (ts_ns - start_ns) / 1e9), segment_s)
        return regime_model(calm[symbol], regime), regime

    first = [r.value for r in feed if r.symbol == symbols[0] and r.kind in (QUOTE, TRADE)]
    say("calibrating a stationary model on the simulated feed (KS figures)")
    cal = calibrate(flow_from_envelopes(first, tick_size=calm[symbols[0]].tick_size, source="simulated"))
    counts: dict[str, float] = {}
    for a, z, regime in segments(seed, symbols[0], seconds, segment_s):
        counts[regime] = counts.get(regime, 0.0) + (z - a)
    mix = ", ".join(f"{r} {v:.0f} s" for r, v in sorted(counts.items()))
    notes = [f"simulated market seed {seed}, {seconds:.0f} s from {start}, {segment_s:.0f} s regime segments "
             f"({symbols[0]}: {mix})", f"{len(feed):,} feed records",
             "KS figures: one stationary model fitted on the simulated top-of-book feed"]
    return Market("simulated", symbols, feed, model_at, cal.dims,
                  [{"path": f"simulated:{seed}", "sha256": ""}], notes)
