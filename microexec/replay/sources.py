"""``--market``: recorded files (LOBSTER, Binance hftbacktest, Torghut JSON) -> one replayable market.

A replayable market is the feed the state and advisor processors read (Torghut envelopes, plus L2
books for Binance) and a simulator model calibrated on that same feed, on which the orders are
executed (docs/replay.md, option (a)). The kind of file is recognised by its name and first bytes,
so a wrong file is refused with a clear message instead of being half-read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from microexec.replay.market_input import MarketInputError, ModelAt
from microexec.replay.windows import windowed_models
from producers.binance import BinanceFormatError, binance_records
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
from simulator.calibration.lobster import LobsterFormatError as CalibrationLobsterError

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
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            while True:
                c = fh.read(1)
                if not c or not c.isspace():
                    return c
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketInputError(f"{path}: cannot read ({exc})") from exc


def detect_kind(paths: list[Path]) -> str:
    """lobster (a ``*_message_*`` CSV), binance (gzip lines ``<ns> {json}``) or torghut (JSON)."""
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
        elif c.isdigit() and p.suffix == ".gz":
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
    symbols = {r.symbol for r in feed}
    if len(symbols) != 1:
        raise MarketInputError(f"one symbol per replay, found {sorted(symbols)}")
    return feed


def _lobster_midnight_ns(path: Path) -> int:
    """Event time of midnight (New York) of the LOBSTER file's day, as producers.lobster stamps records."""
    m = re.search(r"_(\d{4}-\d{2}-\d{2})_", path.name)
    if m is None:
        raise MarketInputError(f"{path.name}: no date in the LOBSTER file name")
    return int(datetime.fromisoformat(m.group(1)).replace(tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


def calibrate_window(kind: str, paths: list[Path], feed: list[FeedRecord], tick_size: float,
                     say: Callable[[str], None], lo_ns: int | None = None, hi_ns: int | None = None,
                     balance_touch: bool = True) -> Calibration:
    """Fit the simulator on the records with event time in [lo_ns, hi_ns] (default: all of ``feed``).

    A top-of-book recording's touch-add sizes are balanced (simulator.calibration.touch_balance) unless
    ``balance_touch`` is False (kept to show the difference: microexec.replay.touch_check --unbalanced)."""
    lo = feed[0].ts_ns if lo_ns is None else lo_ns
    hi = feed[-1].ts_ns if hi_ns is None else hi_ns
    try:
        if kind == "lobster":
            midnight = _lobster_midnight_ns(paths[0])
            flow = load_lobster(paths[0], tick_size=tick_size, start_s=(lo - midnight) / 1e9,
                                end_s=(hi - midnight) / 1e9 + 1e-9)
        else:
            envs = [r.value for r in feed if r.kind in (QUOTE, TRADE) and lo <= r.ts_ns <= hi]
            flow = flow_from_envelopes(envs, tick_size=tick_size,
                                       size_unit=BINANCE_SIZE_UNIT if kind == "binance" else 1.0, source=kind,
                                       balance_touch=balance_touch)
        return calibrate(flow, progress=say)
    except (CalibrationLobsterError, TorghutFormatError, ValueError) as exc:
        raise MarketInputError(f"cannot calibrate the simulator on this {kind} input: {exc}") from exc


def load_recorded_market(paths: list[Path], *, limit: int | None = None, tick_size: float = 0.01,
                         window_s: float = 0.0, tick: Callable[[int], None] = lambda _n: None,
                         say: Callable[[str], None] = lambda _m: None) -> Market:
    """Read the recording, keep its feed, calibrate the simulator on the same records: one model
    over the whole slice, and with ``window_s`` > 0 also one per window (microexec.replay.windows)."""
    kind = detect_kind(paths)
    feed = _read_feed(kind, paths, limit, tick)
    cal = calibrate_window(kind, paths, feed, tick_size, say)
    books = sum(r.kind == BOOK for r in feed)
    notes = [f"{len(feed):,} feed records ({books:,} L2 books)" if books else f"{len(feed):,} feed records",
             f"calibrated on {cal.model.metadata.get('n_events', 0):,} events over "
             f"{cal.model.metadata.get('horizon_s', 0.0):.0f} s"]
    diag = cal.model.metadata.get("mapping_diagnostics", {})
    if "touch_scale_bid_ppm" in diag:
        notes.append(f"touch-add sizes x{diag['touch_scale_bid_ppm'] / 1e6:.3g} (bid), "
                     f"x{diag['touch_scale_ask_ppm'] / 1e6:.3g} (ask) so the simulated touch balances "
                     "(simulator/calibration/touch_balance.py)")
    model_at: ModelAt
    windows: list[dict[str, Any]] = []
    if window_s > 0:
        model_at, windows = windowed_models(
            lambda lo, hi: calibrate_window(kind, paths, feed, tick_size, say, lo, hi), cal.model,
            feed[0].ts_ns, feed[-1].ts_ns, window_s)
        notes.append(f"orders executed on the model of their {window_s:.0f} s calibration window "
                     f"({len(windows)} windows, {sum(w['fallback'] for w in windows)} on the whole-slice model)")
    else:
        model = cal.model
        model_at = lambda _s, _t: (model, None)  # noqa: E731
    return Market(kind, [feed[0].symbol], feed, model_at, cal.dims,
                  [{"path": str(p), "sha256": sha256_file(p)} for p in paths], notes,
                  BINANCE_SIZE_UNIT if kind == "binance" else 1.0, windows)
