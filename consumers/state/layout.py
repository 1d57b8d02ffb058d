"""The per-symbol state: its dict form (the changelog payload) and its row form (what the compiled
fold works on), and the conversions between them.

Why two forms: the dict is flat JSON, readable in the changelog and by the reference fold; the
fold (consumers/state/fold.py) needs fixed-type arrays. ``to_rows`` refuses (TypeError, KeyError,
OverflowError) any state the rows could not hold exactly, and the caller then uses the reference
fold, so the conversion never changes a value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

# Bump when keys are added to or removed from new_symbol_state(); older changelog states are upgraded
# on load (missing keys take their initial value, keys no longer in the layout are dropped).
# 2: the ``late`` counter left the state (late quotes go to the DLQ).
STATE_LAYOUT_VERSION = 2
LAYOUT_VERSION = STATE_LAYOUT_VERSION  # the version the rows mirror (the name the row code has always used)


def new_symbol_state() -> dict[str, Any]:
    """Initial per-symbol state. Keys are short because this dict is the changelog payload."""
    return {
        "v": STATE_LAYOUT_VERSION,
        "bid": None, "bs": 0.0, "ask": None, "as": 0.0, "q_t": None, "first_t": None, "last_t": None,
        "ofi_s": 0.0, "ofi_a": 0.0, "ofi_t": 0,
        "rv_r2": 0.0, "rv_dt": 0.0,
        "cur_spread": None, "cur_depth": None, "cur_vol": None,
        "b_spread": 0.0, "b_depth": 0.0, "b_w": 0.0, "b_vol": 0.0, "b_vol_w": 0.0, "b_t": None,

        "tr_bid": 0.0, "tr_ask": 0.0, "tr_t": 0,
        "own_s": 0.0, "own_n": 0.0, "own_t": 0,
        "lat_ack": None, "lat_ack_t": None, "lat_fill": None, "lat_fill_t": None,
        "lat_feed": None, "lat_feed_t": None,
        "l2_depth": None, "l2_t": None,
        "reg": 0, "reg_dir": 0, "reg_pt": 0, "reg_t": 0,
        "e_t": None, "e_spread": None, "e_depth": None, "e_ofi": None, "e_fh": None, "e_lat": None,
        "e_crumb": None, "e_reg": None, "e_dsrc": None, "e_lsrc": None,
    }


INT_NONE = np.iinfo(np.int64).min  # None in an int row; a float row uses NaN (states are finite)

FLOAT_KEYS = ("bid", "bs", "ask", "as", "ofi_s", "ofi_a", "rv_r2", "rv_dt", "cur_spread", "cur_depth", "cur_vol",
              "b_spread", "b_depth", "b_w", "b_vol", "b_vol_w", "tr_bid", "tr_ask", "own_s", "own_n", "lat_ack",
              "lat_fill", "lat_feed", "l2_depth", "e_spread", "e_depth", "e_ofi", "e_fh", "e_lat", "e_crumb")
INT_KEYS = ("q_t", "first_t", "last_t", "ofi_t", "tr_t", "own_t", "lat_ack_t", "lat_fill_t", "lat_feed_t", "l2_t",
            "reg", "reg_dir", "reg_pt", "reg_t", "e_t", "e_reg", "b_t")
CODE_KEYS = ("e_dsrc", "e_lsrc")  # strings with a few values, held as small ints in the int row
DEPTH_SOURCES = ("l2_book", "top_of_book")
LATENCY_SOURCES = ("order_ack", "first_fill", "feed_lag", "none")
_CODES = ({name: i for i, name in enumerate(DEPTH_SOURCES)}, {name: i for i, name in enumerate(LATENCY_SOURCES)})
_NAMES = (DEPTH_SOURCES, LATENCY_SOURCES)


# The accumulators that must stay finite (the changelog is strict JSON), by key and by column.
ACCUMULATORS = ("cur_spread", "cur_depth", "ofi_s", "ofi_a", "rv_r2", "rv_dt", "tr_bid", "tr_ask", "b_spread",
                "b_depth", "b_vol", "l2_depth", "lat_feed", "lat_ack", "lat_fill", "cur_vol")
ACCUMULATOR_COLUMNS = tuple(FLOAT_KEYS.index(key) for key in ACCUMULATORS)


def finite_state(s: dict[str, Any]) -> bool:
    """Whether every accumulator is finite or missing."""
    for key in ACCUMULATORS:
        value = s[key]
        if value is not None and not math.isfinite(value):
            return False
    return True


def upgraded(old: Mapping[str, Any]) -> dict[str, Any]:
    """A state written by an older layout, in this one."""
    fresh = new_symbol_state()
    return {**{key: old.get(key, value) for key, value in fresh.items()}, "v": STATE_LAYOUT_VERSION}


def to_rows(states: list[dict[str, Any]]) -> tuple[list[list[float]], list[list[int]]]:
    """State dicts -> (float rows, int rows) as lists. Raises (TypeError, KeyError, OverflowError)
    for a state the rows cannot hold exactly; the caller then takes the reference path."""
    floats: list[list[float]] = []
    ints: list[list[int]] = []
    for s in states:
        frow = [math.nan if s[k] is None else s[k] for k in FLOAT_KEYS]
        irow = [INT_NONE if s[k] is None else s[k] for k in INT_KEYS]
        irow += [-1 if s[k] is None else codes[s[k]] for k, codes in zip(CODE_KEYS, _CODES, strict=True)]
        # Exactly float and int (a bool is an int to numpy, and an int would come back a float).
        if any(type(v) is not float for v in frow) or any(type(v) is not int for v in irow):
            raise TypeError("state value of an unexpected type")
        if any(not INT_NONE < v < 2**63 for v in irow[:len(INT_KEYS)] if v is not INT_NONE):
            raise OverflowError("state int beyond int64 (or equal to the None sentinel)")
        floats.append(frow)
        ints.append(irow)
    return floats, ints


def from_row(floats: list[float], ints: list[int], base: dict[str, Any]) -> dict[str, Any]:
    """One symbol's rows (as Python lists) -> its state dict, starting from ``base`` (a copy)."""
    for key, value in zip(FLOAT_KEYS, floats, strict=True):
        base[key] = None if value != value else value
    n_int = len(INT_KEYS)
    for key, value in zip(INT_KEYS, ints, strict=False):
        base[key] = None if value == INT_NONE else value
    for key, code, names in zip(CODE_KEYS, ints[n_int:], _NAMES, strict=True):
        base[key] = None if code < 0 else names[code]
    return base


class SymbolRows(Mapping[str, Any]):
    """A symbol's state as the fold holds it, stored as is in the partition's state between records.

    Why not convert back to a dict after every fold: a run touches many symbols, and a single quote
    costs less to fold than to convert both ways. The dict is built only when someone needs it: the
    changelog at commit time (``as_dict``, which ``streams.state.canonical_json`` calls), the
    reference fold (``StateProcessor._load``), or a reader using it as the read-only mapping it
    also is. The lists are never written after the object is made (each fold works on fresh
    copies), so the state's copy-on-write undo stays valid.
    """

    __slots__ = ("floats", "ints")

    def __init__(self, floats: list[float], ints: list[int]) -> None:
        # Python lists, not numpy rows: a run gathers and scatters them with one numpy call each,
        # where per-row numpy indexing cost microseconds per symbol.
        self.floats = floats
        self.ints = ints

    def as_dict(self) -> dict[str, Any]:
        return from_row(self.floats, self.ints, {"v": LAYOUT_VERSION})

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return 1 + len(FLOAT_KEYS) + len(INT_KEYS) + len(CODE_KEYS)
