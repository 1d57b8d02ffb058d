"""``--market``: recorded files (LOBSTER, Binance hftbacktest, Torghut JSON) -> one replayable market.

A replayable market is the feed the state and advisor processors read (Torghut envelopes, plus L2
books for Binance) and a simulator model calibrated on that same feed, on which the orders are
executed (docs/replay.md, option (a)). The kind of file is recognised by its name and first bytes,
so a wrong file is refused with a clear message instead of being half-read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from microexec.replay.market_input import MarketInputError, ModelAt
from microexec.replay.windows import windowed_models
from producers.binance import BinanceFormatError, binance_records, text_opener
from producers.lobster import NEW_YORK, LobsterFormatError, lobster_records
from producers.records import BOOK, QUOTE, TRADE, FeedRecord
from producers.torghut_dump import TorghutDumpError, torghut_dump_records
from simulator.calibration import (
    Calibration,
    DimensionReport,
    TorghutFormatError,
    calibrate,
    flow_from_envelopes,
    load_lobster,
)
from simulator.calibration.binance import is_binance_recording
from simulator.calibration.lobster import LobsterFormatError as CalibrationLobsterError
from simulator.calibration.units import size_unit_from_sizes, tick_from_prices
from simulator.market.model import MarketModel

BINANCE_SIZE_UNIT = 1e-5  # model counts BTC in 1e-5 units (sizes are fractional on crypto venues)



@dataclass
class Market:
    """What a replay needs from its market, whatever produced it.

    ``model_at(symbol, ts_ns)`` is the market an order arriving then is executed on, with the
    market's own regime label when it has one (the simulated market's schedule; None for a
    recording, whose regime is read from the replayed state records instead).
    """

    kind: str  # lobster | binance | torghut | simulated
    symbols: list[str]
    feed: list[FeedRecord]  # event-time order, what the state processor reads
    model_at: ModelAt
    calibration: list[DimensionReport]  # KS per dimension of the model fitted on this feed
    sources: list[dict[str, str]] = field(default_factory=list)  # path (as given) and sha256
    notes: list[str] = field(default_factory=list)
    size_unit: float = 1.0  # venue quantity per model unit (1e-5 BTC for Binance)
    windows: list[dict[str, Any]] = field(default_factory=list)  # per-window calibration summaries, if any
    size_units: dict[str, float] = field(default_factory=dict)  # per symbol, where it differs from size_unit

    def unit_of(self, symbol: str) -> float:
        """Venue quantity per model unit of ``symbol``'s model."""
        return self.size_units.get(symbol, self.size_unit)

    @property
    def start_ns(self) -> int:
        return self.feed[0].ts_ns

    @property
    def end_ns(self) -> int:
        return self.feed[-1].ts_ns


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _first_char(path: Path) -> str:
    try:
        with text_opener(path)(path, "rt") as fh:
            while True:
                c = fh.read(1)
                if not c or not c.isspace():
                    return c
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketInputError(f"{path}: cannot read ({exc})") from exc


def detect_kind(paths: list[Path]) -> str:
    """lobster (a ``*_message_*`` CSV), binance (lines ``<receive time> {json}``, gzip or not) or torghut (JSON)."""
    if not paths:
        raise MarketInputError("--market needs files or 'simulated[:seed]'")
    for p in paths:
        if not p.is_file():
            raise MarketInputError(f"market file not found: {p}")
    if any("_message_" in p.name for p in paths):
        if len(paths) != 1:
            raise MarketInputError("give one LOBSTER message file (its order book file is found beside it)")
        return "lobster"
    kinds = set()
    for p in paths:
        c = _first_char(p)
        if c in "{[":
            kinds.add("torghut")
        elif c.isdigit() and is_binance_recording(p):  # gzip or plain text (.dat): by content
            kinds.add("binance")
        else:
            raise MarketInputError(f"{p}: not a LOBSTER message CSV, a Binance hftbacktest .gz recording "
                                   "or a Torghut JSON dump")
    if len(kinds) != 1:
        raise MarketInputError("mixing Binance recordings and Torghut JSON dumps is not supported")
    return kinds.pop()


def torghut_feed(paths: list[Path]) -> list[FeedRecord]:
    """Torghut quote/trade envelopes (JSON lines or arrays, optionally gzip) as feed records."""
    try:
        return torghut_dump_records(paths, kinds=(QUOTE, TRADE))
    except TorghutDumpError as exc:
        raise MarketInputError(str(exc)) from exc


def _read_feed(kind: str, paths: list[Path], limit: int | None,
               tick: Callable[[int], None]) -> list[FeedRecord]:
    try:
        it: Iterable[FeedRecord]
        if kind == "lobster":
            it = lobster_records(paths[0], limit=limit)
        elif kind == "binance":
            it = binance_records(paths, limit=limit)
        else:
            it = torghut_feed(paths)[:limit]
        feed = []
        for record in it:
            feed.append(record)
            if len(feed) % 5000 == 0:
                tick(len(feed))
    except (LobsterFormatError, BinanceFormatError, json.JSONDecodeError, KeyError) as exc:
        raise MarketInputError(f"{kind} input: {exc}") from exc
    if kind != "torghut":  # Binance trades carry venue time, tickers receive time: merge in event time
        feed.sort(key=lambda r: r.ts_ns)
    if len(feed) < 2:
        raise MarketInputError("the market input has fewer than two records")
    return feed


def _lobster_midnight_ns(path: Path) -> int:
    """Event time of midnight (New York) of the LOBSTER file's day, as producers.lobster stamps records."""
    m = re.search(r"_(\d{4}-\d{2}-\d{2})_", path.name)
    if m is None:
        raise MarketInputError(f"{path.name}: no date in the LOBSTER file name")
    return int(datetime.fromisoformat(m.group(1)).replace(tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


@dataclass(frozen=True)
class Units:
    """One symbol's model tick and size unit, and where they came from (for the report's notes)."""

    tick_size: float
    size_unit: float
    inferred: bool = False


def _number(x: Any) -> bool:
    """A price or size as Torghut writes it: a number, or a decimal string (Torghut emits both)."""
    if isinstance(x, bool):
        return False
    if isinstance(x, int | float):
        return True
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def symbol_units(kind: str, feed: list[FeedRecord], symbol: str, tick_size: float | None) -> Units:
    """The tick and size unit ``symbol`` is mapped with: given, the venue's (LOBSTER: 0.01 and shares;
    Binance: 0.01 and 1e-5 BTC), or for a Torghut dump, read off the decimals of its own quotes and
    trades (simulator/calibration/units.py), since a dump may come from any venue."""
    if kind != "torghut":
        return Units(0.01 if tick_size is None else tick_size, BINANCE_SIZE_UNIT if kind == "binance" else 1.0)
    prices: list[float] = []
    sizes: list[float] = []
    for r in feed:
        if r.symbol != symbol or r.kind not in (QUOTE, TRADE):
            continue
        p = r.value.get("payload", {})
        # Quoted prices only: trades can print between ticks (NASDAQ's hidden midpoint executions of
        # the AMZN day are at half a cent), which says nothing about the tick a quote moves by.
        if r.kind == QUOTE:
            prices.extend(float(p[k]) for k in ("bp", "ap") if _number(p.get(k)))
        sizes.extend(float(p[k]) for k in ("bs", "as", "s") if _number(p.get(k)))
    tick = tick_from_prices(prices) if tick_size is None else tick_size
    return Units(tick, size_unit_from_sizes(sizes), inferred=tick_size is None)


def calibrate_window(kind: str, paths: list[Path], feed: list[FeedRecord], tick_size: float | Units,
                     say: Callable[[str], None], lo_ns: int | None = None, hi_ns: int | None = None,
                     balance_touch: bool = True, symbol: str | None = None) -> Calibration:
    """Fit the simulator on the records with event time in [lo_ns, hi_ns] (default: all of ``feed``),
    of ``symbol`` only when given (a dump of many symbols is one model per symbol, never a mix).

    A top-of-book recording's touch-add sizes are balanced (simulator.calibration.touch_balance) unless
    ``balance_touch`` is False (kept to show the difference: microexec.replay.touch_check --unbalanced)."""
    lo = feed[0].ts_ns if lo_ns is None else lo_ns
    hi = feed[-1].ts_ns if hi_ns is None else hi_ns
    units = tick_size if isinstance(tick_size, Units) else symbol_units(kind, feed, feed[0].symbol, tick_size)
    try:
        if kind == "lobster":
            midnight = _lobster_midnight_ns(paths[0])
            flow = load_lobster(paths[0], tick_size=units.tick_size, start_s=(lo - midnight) / 1e9,
                                end_s=(hi - midnight) / 1e9 + 1e-9)
        else:
            envs = [r.value for r in feed if r.kind in (QUOTE, TRADE) and lo <= r.ts_ns <= hi
                    and (symbol is None or r.symbol == symbol)]
            flow = flow_from_envelopes(envs, tick_size=units.tick_size, size_unit=units.size_unit, source=kind,
                                       balance_touch=balance_touch)
        return calibrate(flow, progress=say)
    except (CalibrationLobsterError, TorghutFormatError, ValueError) as exc:
        what = f"{symbol} in this {kind} input" if symbol else f"this {kind} input"
        raise MarketInputError(f"cannot calibrate the simulator on {what}: {exc}") from exc


def load_recorded_market(paths: list[Path], *, limit: int | None = None, tick_size: float | None = None,
                         window_s: float = 0.0, tick: Callable[[int], None] = lambda _n: None,
                         say: Callable[[str], None] = lambda _m: None) -> Market:
    """Read the recording, keep its feed, calibrate the simulator on the same records, one model per
    symbol: over the whole slice, and with ``window_s`` > 0 also one per window (microexec.replay.windows).

    Every symbol's records stay in the feed (the state and advisor processors see them all); a symbol
    too thin to calibrate gets no orders and a note saying why, and the replay fails only when no
    symbol can be calibrated."""
    kind = detect_kind(paths)
    feed = _read_feed(kind, paths, limit, tick)
    counts = Counter(r.symbol for r in feed if r.kind in (QUOTE, TRADE))
    order = sorted(counts, key=lambda sym: (-counts[sym], sym))  # busiest first: its model heads the report
    many = len(order) > 1
    fits: dict[str, tuple[Calibration, Units]] = {}
    notes: list[str] = []
    errors: list[MarketInputError] = []
    for sym in order:
        units = symbol_units(kind, feed, sym, tick_size)
        try:
            fits[sym] = (calibrate_window(kind, paths, feed, units, say, symbol=sym if many else None), units)
        except MarketInputError as exc:
            if not many:
                raise
            errors.append(exc)
            notes.append(f"{sym}: no orders ({counts[sym]:,} quotes and trades; {exc})")
    if not fits:
        raise MarketInputError(f"no symbol of the market input could be calibrated: {errors[0]}")
    books = sum(r.kind == BOOK for r in feed)
    head = [f"{len(feed):,} feed records ({books:,} L2 books)" if books else f"{len(feed):,} feed records"]
    if many:
        head.append(f"{len(order)} symbols, {len(fits)} calibrated (one model each)")
    for sym, (cal, units) in fits.items():
        who = f"{sym}: " if many else ""
        head.append(f"{who}calibrated on {cal.model.metadata.get('n_events', 0):,} events over "
                    f"{cal.model.metadata.get('horizon_s', 0.0):.0f} s")
        if units.inferred:
            head.append(f"{who}tick {units.tick_size:g}, size unit {units.size_unit:g} (read off the prices' and "
                        "sizes' decimals; --tick-size overrides the tick)")
        diag = cal.model.metadata.get("mapping_diagnostics", {})
        if "touch_scale_bid_ppm" in diag:
            head.append(f"{who}touch-add sizes x{diag['touch_scale_bid_ppm'] / 1e6:.3g} (bid), "
                        f"x{diag['touch_scale_ask_ppm'] / 1e6:.3g} (ask) so the simulated touch balances "
                        "(simulator/calibration/touch_balance.py)")
    per_symbol: dict[str, ModelAt] = {}
    windows: list[dict[str, Any]] = []
    for sym, (cal, units) in fits.items():
        if window_s > 0:
            sym_feed = [r for r in feed if r.symbol == sym] if many else feed
            fit_window = functools.partial(_fit_window, kind, paths, feed, units, say, sym if many else None)
            at, rows = windowed_models(fit_window, cal.model, sym_feed[0].ts_ns, sym_feed[-1].ts_ns, window_s)
            per_symbol[sym] = at
            windows.extend({"symbol": sym, **row} if many else row for row in rows)
            head.append(f"{sym + ': ' if many else ''}orders executed on the model of their {window_s:.0f} s "
                        f"calibration window ({len(rows)} windows, {sum(w['fallback'] for w in rows)} on the "
                        "whole-slice model)")
        else:
            per_symbol[sym] = functools.partial(_one_model, cal.model)

    def model_at(symbol: str, ts_ns: int) -> tuple[MarketModel, str | None]:
        at = per_symbol.get(symbol)
        if at is None:
            raise MarketInputError(f"no model for {symbol}: not calibrated (market: {sorted(per_symbol)})")
        return at(symbol, ts_ns)

    calibration = [replace(d, name=f"{sym} {d.name}") if many else d
                   for sym, (cal, _u) in fits.items() for d in cal.dims]
    units_by_symbol = {sym: u.size_unit for sym, (_c, u) in fits.items()}
    first = next(iter(fits))
    return Market(kind, list(fits), feed, model_at, calibration,
                  [{"path": str(p), "sha256": sha256_file(p)} for p in paths], head + notes,
                  units_by_symbol[first], windows, units_by_symbol)


def _one_model(model: MarketModel, _symbol: str, _ts_ns: int) -> tuple[MarketModel, str | None]:
    return model, None


def _fit_window(kind: str, paths: list[Path], feed: list[FeedRecord], units: Units, say: Callable[[str], None],
                symbol: str | None, lo: int, hi: int) -> Calibration:
    return calibrate_window(kind, paths, feed, units, say, lo, hi, symbol=symbol)
