"""Torghut JSON quote/trade streams -> :class:`RecordedFlow`.

Input: files of Torghut envelopes (one JSON object per line, or one JSON array), as dumped from
``torghut.quotes.v1`` / ``torghut.trades.v1``; the payload is an Alpaca quote (``bp, bs, ap, as,
t``) or trade (``p, s, t``). Only top of book exists, so the mapping infers events from changes of
the quote, after accounting for trades that explain them:

* trade: buyer-initiated if at or above the prevailing ask, seller-initiated at or below the
  bid, otherwise by the side of the mid, and by the tick rule at the mid -> market buy / sell;
  consecutive trades with the same timestamp and direction are one aggressive order filling
  against several resting ones and are merged (sizes summed), as for LOBSTER executions;
* bid price up: a new bid inside the spread (limit bid inside); same bid price, more size: limit
  bid at the touch (size = the increase); same price, less size, beyond what trades at that
  price took since the last quote: cancel bid (size = the unexplained decrease); bid price down
  with the old level not traded away: cancel bid (the level was pulled). Asks mirror this.
* deep limits and cancels behind the touch are invisible at top of book and stay empty.
* one quote update can change both sides; the side that *retreats* (bid down, ask up) is mapped
  first, and every event records the spread of the book as it stands just before it (the old
  quote, then the old quote with the first side updated). Why: a bid that steps up to the old ask
  of a one-tick book can only have done so after the ask left (traded or pulled); stamped with the
  stale one-tick spread it would be an inside-spread order where none is possible, which is what
  the state-dependent (spread-class) intensities were wrong about.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from simulator.calibration.flow import RecordedFlow, separate_ties
from simulator.calibration.touch_balance import balance_touch_adds
from simulator.calibration.units import size_unit_from_sizes, tick_from_prices
from simulator.market.types import (
    CANCEL_ASK,
    CANCEL_BID,
    LIMIT_ASK_INSIDE,
    LIMIT_ASK_TOUCH,
    LIMIT_BID_INSIDE,
    LIMIT_BID_TOUCH,
    MARKET_BUY,
    MARKET_SELL,
)


class TorghutFormatError(ValueError):
    """A record that is not a Torghut quote or trade envelope."""


def parse_ts(value: Any) -> float:
    """RFC 3339 (``...Z`` or offset, up to nanoseconds) or epoch ns/ms/s -> epoch seconds."""
    if isinstance(value, int | float):
        v = float(value)
        return v / 1e9 if v > 1e17 else v / 1e3 if v > 1e11 else v
    if not isinstance(value, str):
        raise TorghutFormatError(f"timestamp {value!r} is neither RFC 3339 text nor a number")
    s = value.strip()
    offset_s = 0.0
    if s.endswith("Z"):
        s = s[:-1]
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        sign = 1.0 if s[-6] == "+" else -1.0
        offset_s = sign * (int(s[-5:-3]) * 3600 + int(s[-2:]) * 60)
        s = s[:-6]
    try:
        ns = np.datetime64(s, "ns").astype(np.int64)
    except ValueError as exc:
        raise TorghutFormatError(f"unparseable timestamp {value!r}") from exc
    return float(ns) / 1e9 - offset_s


def _open(path: Path) -> Iterator[str]:
    if not path.is_file():
        raise FileNotFoundError(f"Torghut JSON file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        if head == "[":
            yield from (json.dumps(x) for x in json.loads(head + fh.read()))
        else:
            first = head + fh.readline()
            if first.strip():
                yield first
            yield from fh


Record = tuple[float, int, str, dict[str, Any]]


def parse_envelope(env: Any, seq: int, where: str = "record") -> Record:
    """One Torghut envelope -> (event time s, sequence, 'quote'|'trade', numeric payload fields)."""
    payload = env.get("payload") if isinstance(env, dict) else None
    if not isinstance(payload, dict):
        raise TorghutFormatError(f"{where}: no 'payload' object (Torghut envelope expected)")
    need: tuple[str, ...]
    if {"bp", "ap"} <= payload.keys():
        kind = "quote"
        need = ("bp", "bs", "ap", "as")
    elif {"p", "s"} <= payload.keys():
        kind = "trade"
        need = ("p", "s")
    else:
        raise TorghutFormatError(f"{where}: payload is neither a quote (bp,bs,ap,as,t) "
                                 f"nor a trade (p,s,t): keys {sorted(payload)}")
    ts = payload.get("t", env.get("eventTs"))
    if ts is None:
        raise TorghutFormatError(f"{where}: no timestamp (payload.t or eventTs)")
    try:
        vals: dict[str, Any] = {k: float(payload[k]) for k in need}
    except (KeyError, TypeError, ValueError) as exc:
        raise TorghutFormatError(f"{where}: bad or missing {kind} field ({exc})") from exc
    vals["symbol"] = env.get("symbol", payload.get("S", "?"))
    return parse_ts(ts), seq, kind, vals


def read_envelopes(paths: list[Path]) -> list[Record]:
    """(event time s, file order, kind 'quote'|'trade', payload) sorted by time, file order kept in ties."""
    out: list[Record] = []
    seq = 0
    for path in paths:
        for lineno, line in enumerate(_open(path), 1):
            if not line.strip():
                continue
            try:
                env = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TorghutFormatError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
            out.append(parse_envelope(env, seq, f"{path}:{lineno}"))
            seq += 1
    out.sort(key=lambda r: (r[0], r[1]))
    return out


def flow_from_envelopes(envelopes: Iterable[dict[str, Any]], tick_size: float = 0.01, size_unit: float = 1.0,
                        source: str = "stream", *, balance_touch: bool = True) -> RecordedFlow:
    """The same mapping for envelopes already in memory (a consumer's rolling window).

    ``balance_touch`` (default) scales the touch adds as ``simulator.calibration.touch_balance`` says:
    every calibration from a top-of-book feed needs it, or on a requoting venue the model's touch only
    grows; False gives the raw mapping (its tests, and ``microexec.replay.touch_check --unbalanced``)."""
    recs = [parse_envelope(env, k, f"{source}[{k}]") for k, env in enumerate(envelopes)]
    recs.sort(key=lambda r: (r[0], r[1]))
    flow = _map(recs, tick_size, size_unit, source)
    return balance_touch_adds(flow) if balance_touch else flow


def load_torghut(paths: list[str | Path], tick_size: float | None = 0.01, size_unit: float | None = 1.0, *,
                 balance_touch: bool = True, symbol: str | None = None) -> RecordedFlow:
    """Map Torghut quote+trade envelopes to the model's event types.

    ``size_unit`` turns sizes into the integer units the model counts (1 share for equities;
    e.g. 1e-5 BTC for crypto, whose sizes are fractional). None reads either off the data's own
    decimals (simulator/calibration/units.py): a dump may come from any venue. A dump of several
    symbols needs ``symbol``: one calibration describes one book.
    """
    recs = read_envelopes([Path(p) for p in paths])
    if symbol is not None:
        recs = [r for r in recs if r[3]["symbol"] == symbol]
        if not recs:
            raise TorghutFormatError(f"no quote or trade of {symbol} in the input")
    if tick_size is None:
        tick_size = tick_from_prices(v[k] for _t, _s, kind, v in recs if kind == "quote" for k in ("bp", "ap"))
    if size_unit is None:
        size_unit = size_unit_from_sizes(v[k] for _t, _s, _kind, v in recs for k in ("bs", "as", "s") if k in v)
    flow = _map(recs, tick_size, size_unit, ",".join(str(p) for p in paths))
    return balance_touch_adds(flow) if balance_touch else flow


def _map(recs: list[Record], tick_size: float, size_unit: float, source: str) -> RecordedFlow:
    if not recs:
        raise TorghutFormatError("no quote or trade records in the input")
    t0 = recs[0][0]
    symbols = {r[3]["symbol"] for r in recs}
    if len(symbols) > 1:  # one book per calibration: two symbols' quotes read as one book are noise
        names = sorted(str(x) for x in symbols)
        raise TorghutFormatError(f"the input holds {len(names)} symbols ({', '.join(names[:6])}"
                                 f"{', ...' if len(names) > 6 else ''}): a calibration describes one market; "
                                 "choose one (microexec calibrate --symbol)")
    times: list[float] = []
    dims: list[int] = []
    sizes: list[int] = []
    spreads: list[int] = []
    mids: list[float] = []
    diag = {"quotes": 0, "trades": 0, "trades_before_first_quote": 0, "crossed_quotes": 0,
            "merged_trades": 0, "inside_after_retreat": 0}
    last_trade_key: tuple[float, int] | None = None
    inside: tuple[list[int], list[int]] = ([], [])
    gaps: list[int] = []
    q: dict[str, float] | None = None
    traded_bid = 0.0  # volume sold into the current bid price since the last quote
    traded_ask = 0.0
    last_trade_px = float("nan")
    last_dir = MARKET_BUY

    def units(x: float) -> int:
        return max(1, round(x / size_unit))

    def emit(t: float, dim: int, size: float, book: dict[str, float] | None = None) -> None:
        times.append(t - t0)
        dims.append(dim)
        sizes.append(units(size))
        b = q if book is None else book
        if b is not None:
            spreads.append(round((b["ap"] - b["bp"]) / tick_size))
            mids.append(0.5 * (b["ap"] + b["bp"]))
        else:
            spreads.append(-1)
            mids.append(float("nan"))

    for t, _, kind, v in recs:
        if kind == "trade":
            diag["trades"] += 1
            if q is None:
                diag["trades_before_first_quote"] += 1
                continue
            p = v["p"]
            mid = 0.5 * (q["bp"] + q["ap"])
            if p >= q["ap"] or p > mid:
                d = MARKET_BUY
            elif p <= q["bp"] or p < mid:
                d = MARKET_SELL
            elif p > last_trade_px:
                d = MARKET_BUY
            elif p < last_trade_px:
                d = MARKET_SELL
            else:
                d = last_dir
            last_trade_px, last_dir = p, d
            if d == MARKET_SELL and p <= q["bp"]:
                traded_bid += v["s"]
            if d == MARKET_BUY and p >= q["ap"]:
                traded_ask += v["s"]
            if last_trade_key == (t, d):
                sizes[-1] += units(v["s"])
                diag["merged_trades"] += 1
            else:
                emit(t, d, v["s"])
            last_trade_key = (t, d)
            continue
        last_trade_key = None
        diag["quotes"] += 1
        if v["ap"] <= v["bp"]:
            diag["crossed_quotes"] += 1
            continue
        if q is not None:
            diag["inside_after_retreat"] += _quote_events(t, q, v, traded_bid, traded_ask, emit)
            if v["bp"] > q["bp"]:
                inside[0].append(max(1, round((v["bp"] - q["bp"]) / tick_size)))
            elif v["bp"] < q["bp"]:
                gaps.append(max(1, round((q["bp"] - v["bp"]) / tick_size)))
            if v["ap"] < q["ap"]:
                inside[1].append(max(1, round((q["ap"] - v["ap"]) / tick_size)))
            elif v["ap"] > q["ap"]:
                gaps.append(max(1, round((v["ap"] - q["ap"]) / tick_size)))
        q = {k: v[k] for k in ("bp", "bs", "ap", "as")}
        traded_bid = traded_ask = 0.0
    if not times:
        raise TorghutFormatError("quotes and trades produced no order-flow events")
    t_arr, moved = separate_ties(np.asarray(times))
    diag["tie_shifted"] = moved
    mids_arr = np.asarray(mids)
    return RecordedFlow(
        symbol=",".join(sorted(str(s) for s in symbols)),
        source=source,
        times=t_arr,
        dims=np.asarray(dims, np.int64),
        sizes=np.asarray(sizes, np.int64),
        horizon=float(max(recs[-1][0] - t0, t_arr[-1])),
        tick_size=tick_size,
        ref_price=float(np.nanmedian(mids_arr)),
        deep_offsets=(np.zeros(0, np.int64), np.zeros(0, np.int64)),
        cancel_offsets=(np.zeros(int(np.sum(np.asarray(dims) == CANCEL_BID)), np.int64),
                        np.zeros(int(np.sum(np.asarray(dims) == CANCEL_ASK)), np.int64)),
        spreads=np.asarray(spreads, np.int64),
        mids=mids_arr,
        diagnostics=diag,
        inside_offsets=(np.asarray(inside[0], np.int64), np.asarray(inside[1], np.int64)),
        level_gaps=np.asarray(gaps, np.int64),
    )


def _quote_events(t: float, old: dict[str, float], new: dict[str, float], traded_bid: float,
                  traded_ask: float, emit: Any) -> int:
    """Emit the update's events; returns 1 if an inside-spread order was stamped with the book after
    the other side retreated (it would have met the stale spread), else 0."""
    book = dict(old)  # the book as it stands before each emitted event
    ask_first = new["ap"] > old["ap"] and not new["bp"] < old["bp"]
    sides = ("ask", "bid") if ask_first else ("bid", "ask")
    for side in sides:
        if side == "bid":
            _bid_events(t, old, new, traded_bid, emit, dict(book))
            book["bp"], book["bs"] = new["bp"], new["bs"]
        else:
            _ask_events(t, old, new, traded_ask, emit, dict(book))
            book["ap"], book["as"] = new["ap"], new["as"]
    return int((ask_first and new["bp"] > old["bp"]) or (new["bp"] < old["bp"] and new["ap"] < old["ap"]))


def _bid_events(t: float, old: dict[str, float], new: dict[str, float], traded_bid: float, emit: Any,
                book: dict[str, float]) -> None:
    if new["bp"] > old["bp"]:
        emit(t, LIMIT_BID_INSIDE, new["bs"], book)
    elif new["bp"] == old["bp"]:
        delta = new["bs"] - old["bs"]
        if delta > 0:
            emit(t, LIMIT_BID_TOUCH, delta, book)
        elif -delta > traded_bid + 1e-12:
            emit(t, CANCEL_BID, -delta - traded_bid, book)
    elif traded_bid + 1e-12 < old["bs"]:
        emit(t, CANCEL_BID, old["bs"] - traded_bid, book)  # level pulled (not, or not fully, traded away)


def _ask_events(t: float, old: dict[str, float], new: dict[str, float], traded_ask: float, emit: Any,
                book: dict[str, float]) -> None:
    if new["ap"] < old["ap"]:
        emit(t, LIMIT_ASK_INSIDE, new["as"], book)
    elif new["ap"] == old["ap"]:
        delta = new["as"] - old["as"]
        if delta > 0:
            emit(t, LIMIT_ASK_TOUCH, delta, book)
        elif -delta > traded_ask + 1e-12:
            emit(t, CANCEL_ASK, -delta - traded_ask, book)
    elif traded_ask + 1e-12 < old["as"]:
        emit(t, CANCEL_ASK, old["as"] - traded_ask, book)
