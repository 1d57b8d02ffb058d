"""The rolling event window of one symbol, kept in keyed state as time buckets.

Why buckets under separate keys: the runtime changelogs every state key a record touched, as JSON,
in each commit. One key holding the whole window would rewrite up to ``max_window_events`` events
per commit; with buckets a commit rewrites the small metadata key and the newest bucket only, and
dropping what fell out of the window is deleting whole old keys (a tombstone each).

Keys (per symbol): ``win:<symbol>`` metadata ``{"b": [[bucket id, events], ...] oldest first,
"mid": last mid, "dec": most price decimals seen, "q": quotes seen, "last": newest event ns,
"fit": event ns of the last fit attempt or None, "due": event ns the next refit is due, "req": a
recalibration was requested}``, and
``wb:<symbol>:<bucket id>`` ``{"e": [event, ...]}`` with an event as ``[t_ns, bid, bid size, ask,
ask size]`` (a quote or an L2 top of book) or ``[t_ns, price, size]`` (a trade): the inputs of
``simulator.calibration.torghut.flow_from_envelopes`` and nothing else.

State values are never mutated in place (the runtime's rollback keeps references), so each append
writes a new bucket dict.
"""

from __future__ import annotations

from typing import Any

from streams.processor import KeyValueState

META = "win:"
BUCKET = "wb:"
MAX_DECIMALS = 6
NS = 1_000_000_000


def meta_key(symbol: str) -> str:
    return META + symbol


def bucket_key(symbol: str, bucket: int) -> str:
    return f"{BUCKET}{symbol}:{bucket}"


def empty_meta() -> dict[str, Any]:
    return {"b": [], "mid": None, "dec": 0, "q": False, "last": None, "fit": None, "due": None, "req": False}


def load_meta(state: KeyValueState, symbol: str) -> dict[str, Any]:
    """A fresh copy of the symbol's metadata (callers change it and ``put`` it back)."""
    meta = state.get(meta_key(symbol))
    if meta is None:
        return empty_meta()
    out = dict(meta)
    out["b"] = [list(b) for b in meta["b"]]
    return out


def price_decimals(price: float) -> int:
    """Decimals a price is quoted with (``60000.01`` -> 2, ``200.5`` -> 1), capped at MAX_DECIMALS."""
    text = repr(float(price))
    if "e" in text or "E" in text:
        return MAX_DECIMALS
    _, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return min(len(frac), MAX_DECIMALS)


def tick_from_decimals(decimals: int) -> float:
    """The tick the window's prices imply: one unit of their finest decimal (at least 1e-6)."""
    return float(f"1e-{decimals}") if decimals > 0 else 1.0


def add_event(state: KeyValueState, symbol: str, meta: dict[str, Any], event: list[float | int],
              window_s: float, bucket_s: float, max_events: int) -> bool:
    """Append ``event`` to the symbol's window (``meta`` updated in place, not yet stored) and drop
    what falls out of it. Returns False when the event was not kept (older than the window, or the
    window is at its cap within a single bucket)."""
    t_ns = int(event[0])
    newest = t_ns if meta["last"] is None else max(int(meta["last"]), t_ns)
    start = newest - int(window_s * NS)
    if t_ns < start:
        return False
    bucket_ns = int(bucket_s * NS)
    buckets: list[list[int]] = meta["b"]
    # Drop buckets wholly before the window start, then the oldest ones while over the cap.
    while buckets and (buckets[0][0] + 1) * bucket_ns <= start:
        state.delete(bucket_key(symbol, buckets.pop(0)[0]))
    bid = t_ns // bucket_ns
    while buckets and sum(c for _, c in buckets) >= max_events and buckets[0][0] != bid:
        state.delete(bucket_key(symbol, buckets.pop(0)[0]))
    if sum(c for _, c in buckets) >= max_events:
        return False
    key = bucket_key(symbol, bid)
    current = state.get(key)
    events = list(current["e"]) if current is not None else []
    events.append(event)
    state.put(key, {"e": events})
    for entry in buckets:
        if entry[0] == bid:
            entry[1] += 1
            break
    else:
        buckets.append([bid, 1])
        buckets.sort()
    meta["last"] = newest
    if len(event) == 5:
        meta["mid"] = 0.5 * (float(event[1]) + float(event[3]))
        meta["dec"] = max(int(meta["dec"]), price_decimals(float(event[1])), price_decimals(float(event[3])))
    return True


def event_count(meta: dict[str, Any]) -> int:
    return sum(int(c) for _, c in meta["b"])


def window_events(state: KeyValueState, symbol: str, meta: dict[str, Any], limit: int) -> list[list[Any]]:
    """The newest ``limit`` events of the window, in time order (ties keep arrival order)."""
    picked: list[list[Any]] = []
    for bid, _ in reversed(meta["b"]):
        stored = state.get(bucket_key(symbol, int(bid)))
        if stored is None:
            continue
        chunk = sorted(stored["e"], key=lambda e: e[0])
        picked = chunk + picked
        if len(picked) >= limit:
            break
    return picked[-limit:] if len(picked) > limit else picked


def as_envelopes(symbol: str, events: list[list[Any]]) -> list[dict[str, Any]]:
    """Window events as the Torghut envelopes ``flow_from_envelopes`` maps (times as epoch ns)."""
    out = []
    for e in events:
        if len(e) == 5:
            payload = {"bp": e[1], "bs": e[2], "ap": e[3], "as": e[4], "t": int(e[0])}
        else:
            payload = {"p": e[1], "s": e[2], "t": int(e[0])}
        out.append({"symbol": symbol, "payload": payload})
    return out
