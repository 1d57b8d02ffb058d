"""LOBSTER message + order-book files -> :class:`RecordedFlow`.

Mapping (message ``k`` is classified against order-book row ``k-1``, the book *before* it):

* type 1 (new limit): by its price relative to that book's touch on its own side — equal to the
  best on its side: at the touch; strictly between best bid and best ask: inside the spread;
  behind its own best: deep (the distance in ticks is kept for the placement table);
* types 2, 3 (partial cancel, delete): cancel bid / cancel ask by the order's side (distance
  behind the touch kept for the cancel-placement table);
* inside-spread limits keep their improvement over their own touch, and every removal that
  moves a touch away keeps the distance to the level revealed behind it: the book rules use
  both (how far improvers step in; how sparse the book behind the touch is);
* types 4, 5 (visible / hidden execution): an execution of a sell limit order is a buyer-
  initiated trade, so direction -1 -> market buy, +1 -> market sell. Consecutive executions at
  the same timestamp and direction are one market order sweeping several resting orders and are
  merged into one event whose size is their sum;
* types 6 (cross trade) and 7 (halt) are not order flow and are skipped (counted).

The level-1 sample only records messages that touch the best level, so it contains no deep
limits and no deep cancels; the dimensions stay in the model and calibration reports them empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from simulator.calibration.flow import RecordedFlow, separate_ties
from simulator.market.types import (
    CANCEL_ASK,
    CANCEL_BID,
    LIMIT_ASK_DEEP,
    LIMIT_ASK_INSIDE,
    LIMIT_ASK_TOUCH,
    LIMIT_BID_DEEP,
    LIMIT_BID_INSIDE,
    LIMIT_BID_TOUCH,
    MARKET_BUY,
    MARKET_SELL,
)

PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10,000
EMPTY_ASK = 9_999_999_999  # LOBSTER's dummy price for an empty level
_NAME = re.compile(r"^(?P<sym>[A-Za-z.]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_message_(?P<lvl>\d+)")


class LobsterFormatError(ValueError):
    """The files are not LOBSTER message/order-book files of the expected shape."""


def orderbook_path_for(message_path: Path) -> Path:
    """LOBSTER names the pair ``..._message_N...csv`` / ``..._orderbook_N...csv``."""
    name = message_path.name
    if "_message_" not in name:
        raise LobsterFormatError(f"{message_path}: not a LOBSTER message file name (no '_message_')")
    return message_path.with_name(name.replace("_message_", "_orderbook_", 1))


def _load_csv(path: Path, n_cols: int | None, what: str) -> NDArray[np.float64]:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise LobsterFormatError(f"{path}: not a numeric LOBSTER CSV without header ({exc})") from exc
    if data.shape[0] == 0:
        raise LobsterFormatError(f"{path}: empty file")
    if n_cols is not None and data.shape[1] != n_cols:
        raise LobsterFormatError(f"{path}: expected {n_cols} columns ({what}), found {data.shape[1]}")
    return data


def load_lobster(message_path: str | Path, orderbook_path: str | Path | None = None,
                 tick_size: float = 0.01, start_s: float | None = None,
                 end_s: float | None = None) -> RecordedFlow:
    """Read a LOBSTER pair and map it; ``start_s``/``end_s`` (seconds after midnight) cut a window."""
    mp = Path(message_path)
    obp = Path(orderbook_path) if orderbook_path is not None else orderbook_path_for(mp)
    msg = _load_csv(mp, 6, "message: time, type, order id, size, price, direction")
    book = _load_csv(obp, None, "order book")
    if book.shape[1] % 4 != 0:
        raise LobsterFormatError(f"{obp}: order book needs 4 columns per level, found {book.shape[1]}")
    if book.shape[0] != msg.shape[0]:
        raise LobsterFormatError(f"{mp} has {msg.shape[0]} messages but {obp} has {book.shape[0]} rows")
    m = _NAME.match(mp.name)
    symbol = m.group("sym") if m else mp.stem.split("_")[0]
    return map_lobster(msg, book, symbol, tick_size, start_s, end_s, source=str(mp))


def map_lobster(msg: NDArray[np.float64], book: NDArray[np.float64], symbol: str, tick_size: float = 0.01,
                start_s: float | None = None, end_s: float | None = None, source: str = "lobster") -> RecordedFlow:
    tick = round(tick_size * PRICE_SCALE)
    t_all, typ, size, price, direction = msg[:, 0], msg[:, 1].astype(np.int64), msg[:, 3], msg[:, 4], msg[:, 5]
    ask_b, bid_b = book[:, 0], book[:, 2]  # level 1 of the book *after* each message
    lo = float(start_s) if start_s is not None else float(t_all[0])
    hi = float(end_s) if end_s is not None else float(t_all[-1])
    times: list[float] = []
    dims: list[int] = []
    sizes: list[int] = []
    spreads: list[int] = []
    mids: list[float] = []
    deep: tuple[list[int], list[int]] = ([], [])
    canc: tuple[list[int], list[int]] = ([], [])
    inside: tuple[list[int], list[int]] = ([], [])
    gaps: list[int] = []
    diag = {"messages": 0, "skipped_type_6_7": 0, "skipped_crossing_limit": 0, "merged_executions": 0,
            "no_prior_book": 0}
    last_exec_key: tuple[float, int] | None = None
    for k in range(msg.shape[0]):
        t = float(t_all[k])
        if t < lo or t > hi:
            continue
        diag["messages"] += 1
        if k == 0:
            diag["no_prior_book"] += 1  # no book before the first message of the file
            continue
        ty = int(typ[k])
        bid = bid_b[k - 1]
        ask = ask_b[k - 1]
        bid_ok = bid > 0
        ask_ok = 0 < ask < EMPTY_ASK
        d = int(direction[k])
        px = price[k]
        q = round(size[k])
        if ty in (2, 3, 4, 5):
            # A removal that moved a touch away reveals the gap to the next level behind it.
            bid_after, ask_after = bid_b[k], ask_b[k]
            if bid_ok and 0 < bid_after < bid:
                gaps.append(round((bid - bid_after) / tick))
            if ask_ok and ask < ask_after < EMPTY_ASK:
                gaps.append(round((ask_after - ask) / tick))
        if ty in (4, 5):
            key = (t, d)
            if key == last_exec_key:
                sizes[-1] += q
                diag["merged_executions"] += 1
                continue
            last_exec_key = key
            dim = MARKET_BUY if d == -1 else MARKET_SELL
        else:
            last_exec_key = None
            if ty == 1:
                if d == 1:
                    if not bid_ok or px == bid:
                        dim = LIMIT_BID_TOUCH
                    elif px < bid:
                        dim = LIMIT_BID_DEEP
                        deep[0].append(round((bid - px) / tick))
                    elif not ask_ok or px < ask:
                        dim = LIMIT_BID_INSIDE
                        inside[0].append(round((px - bid) / tick))
                    else:
                        diag["skipped_crossing_limit"] += 1
                        continue
                else:
                    if not ask_ok or px == ask:
                        dim = LIMIT_ASK_TOUCH
                    elif px > ask:
                        dim = LIMIT_ASK_DEEP
                        deep[1].append(round((px - ask) / tick))
                    elif not bid_ok or px > bid:
                        dim = LIMIT_ASK_INSIDE
                        inside[1].append(round((ask - px) / tick))
                    else:
                        diag["skipped_crossing_limit"] += 1
                        continue
            elif ty in (2, 3):
                if d == 1:
                    dim = CANCEL_BID
                    canc[0].append(max(0, round((bid - px) / tick)) if bid_ok else 0)
                else:
                    dim = CANCEL_ASK
                    canc[1].append(max(0, round((px - ask) / tick)) if ask_ok else 0)
            else:
                diag["skipped_type_6_7"] += 1
                continue
        times.append(t - lo)
        dims.append(dim)
        sizes.append(q)
        if bid_ok and ask_ok:
            spreads.append(round((ask - bid) / tick))
            mids.append(0.5 * (ask + bid) / PRICE_SCALE)
        else:
            spreads.append(-1)
            mids.append(np.nan)
    if not times:
        raise LobsterFormatError(f"{source}: no order-flow messages in the window [{lo}, {hi}]")
    t_arr, moved = separate_ties(np.asarray(times))
    diag["tie_shifted"] = moved
    mids_arr = np.asarray(mids)
    ref = float(np.nanmedian(mids_arr)) if np.any(np.isfinite(mids_arr)) else float(np.median(price) / PRICE_SCALE)
    return RecordedFlow(
        symbol=symbol,
        source=source,
        times=t_arr,
        dims=np.asarray(dims, dtype=np.int64),
        sizes=np.maximum(np.asarray(sizes, dtype=np.int64), 1),
        horizon=float(max(hi - lo, t_arr[-1])),
        tick_size=tick_size,
        ref_price=ref,
        deep_offsets=(np.asarray(deep[0], np.int64), np.asarray(deep[1], np.int64)),
        cancel_offsets=(np.asarray(canc[0], np.int64), np.asarray(canc[1], np.int64)),
        spreads=np.asarray(spreads, dtype=np.int64),
        mids=mids_arr,
        diagnostics=diag,
        inside_offsets=(np.asarray(inside[0], np.int64), np.asarray(inside[1], np.int64)),
        level_gaps=np.asarray(gaps, np.int64),
    )
