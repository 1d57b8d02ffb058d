"""Per-symbol step histories in event time: the mid (from quotes) and the liquidity regime (from the
state topic), each as "value from time t on", so the value *at or before* an order's
``submitted_at`` can be read after later records have already moved them on.

Why a history and not the latest value: an order's first trade update (its ``new``, or a fill)
reaches the consumer after the quotes that followed the submit, so "latest quote" at that moment is
not the arrival quote. Only changes are kept (consecutive quotes with the same mid add nothing), at
most ``cap`` entries; once older entries have been dropped, a time before the oldest kept entry has
no answer (``lookup`` returns None, the caller falls back and counts it).

A history is a JSON dict (it lives in the changelog): ``h`` sorted ``[[ts_ns, value], ...]``, ``mx``
the newest event time seen, ``dr`` True once entries were dropped. Values are never mutated in place:
every update returns a new dict (the runtime's state rollback relies on it).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

History = dict[str, Any]


def empty() -> History:
    return {"h": [], "mx": None, "dr": False}


def record(history: History | None, ts_ns: int, value: Any, cap: int) -> History:
    """``history`` with ``value`` from ``ts_ns`` on. Equal times: the later record wins (the input
    topic's offset order, which is fixed across replays). A record older than the newest one is
    placed where it belongs (a late record still answers for times after it)."""
    h = history if history is not None else empty()
    entries: list[list[Any]] = h["h"]
    newest = h["mx"]
    mx = ts_ns if newest is None or ts_ns > newest else newest
    if entries and ts_ns >= entries[-1][0]:
        last_ts, last_value = entries[-1]
        if last_value == value:
            return h if mx == newest else {**h, "mx": mx}
        new = [*entries[:-1], [ts_ns, value]] if ts_ns == last_ts else [*entries, [ts_ns, value]]
    else:
        at = bisect_right([e[0] for e in entries], ts_ns)
        if at == 0 and h["dr"]:
            return h if mx == newest else {**h, "mx": mx}  # older than what we dropped: nowhere to put it
        if at > 0 and entries[at - 1][0] == ts_ns:
            new = [*entries[:at - 1], [ts_ns, value], *entries[at:]]
        else:
            new = [*entries[:at], [ts_ns, value], *entries[at:]]
    dropped = h["dr"]
    if len(new) > cap:
        new = new[len(new) - cap:]
        dropped = True
    return {"h": new, "mx": mx, "dr": dropped}


def lookup(history: History | None, ts_ns: int) -> tuple[int, Any] | None:
    """(time, value) of the newest entry at or before ``ts_ns``; None if there is none, or if it may
    have been dropped."""
    if not history or not history["h"]:
        return None
    entries = history["h"]
    at = bisect_right([e[0] for e in entries], ts_ns)
    if at == 0:
        return None
    entry = entries[at - 1]
    return int(entry[0]), entry[1]


def newest_time(history: History | None) -> int | None:
    return None if not history else history["mx"]
