"""The rolling event window of one symbol, kept in keyed state as time buckets.

Why buckets under separate keys: the runtime changelogs every state key a record touched, as JSON,
in each commit. One key holding the whole window would rewrite up to ``max_window_events`` events
per commit; with buckets a commit rewrites the small metadata key and the newest bucket only, and
dropping what fell out of the window is deleting whole old keys (a tombstone each).

Why buckets are further cut into chunks of ``CHUNK_EVENTS`` events: the runtime commits as soon as
it is caught up (every ~10-30 ms under a live feed), and every commit re-encodes each touched key
whole; a 10 s bucket of a busy symbol holds hundreds of events, so the changelog re-encoded (and
shipped) each of them tens of times a second (measured: half of the consumer's main-thread time in
the benchmark). With chunks a commit re-encodes at most ``CHUNK_EVENTS`` events per touched symbol.
A chunk's index is derived from the bucket's event count (event ``n`` of a bucket, in arrival
order, goes to chunk ``n // CHUNK_EVENTS``), so the metadata format is unchanged and a state
written before chunking (one key per bucket, any length) restores and reads back as it was: its
events stay in chunk 0, later ones go to higher chunks, and chunks are read in index order.
``CHUNK_EVENTS`` may therefore only ever shrink (a larger value could send new events to a lower
chunk than existing ones and break arrival order).

Keys (per symbol): ``win:<symbol>`` metadata ``{"b": [[bucket id, events], ...] oldest first,
"mid": last mid, "dec": most price decimals seen, "sdec": most size decimals seen (absent before sizes were
tracked: 0), "q": quotes seen, "last": newest event ns,
"fit": event ns of the last fit attempt or None, "due": event ns the next refit is due, "req": a
recalibration was requested}``, and
``wb:<symbol>:<bucket id>`` (chunk 0) and ``wb:<symbol>:<bucket id>:<k>`` (chunk k >= 1), each
``{"e": [event, ...]}`` with an event as ``[t_ns, bid, bid size, ask,
ask size]`` (a quote or an L2 top of book) or ``[t_ns, price, size]`` (a trade): the inputs of
``simulator.calibration.torghut.flow_from_envelopes`` and nothing else.

State values are never mutated in place (the runtime's rollback keeps references), so each append
writes a new chunk dict.
"""

from __future__ import annotations

from typing import Any

from simulator.calibration.units import decimals, unit_from_decimals
from streams.processor import KeyValueState

META = "win:"
BUCKET = "wb:"
MAX_DECIMALS = 6
MAX_SIZE_DECIMALS = 8  # crypto venues quote sizes to 8 decimals (1 satoshi)
CHUNK_EVENTS = 16  # events per chunk key; may only shrink (see above)
NS = 1_000_000_000


def meta_key(symbol: str) -> str:
    return META + symbol


def bucket_key(symbol: str, bucket: int, chunk: int = 0) -> str:
    """The state key of chunk ``chunk`` of a bucket (chunk 0 keeps the pre-chunking key)."""
    return f"{BUCKET}{symbol}:{bucket}" if chunk == 0 else f"{BUCKET}{symbol}:{bucket}:{chunk}"


def _chunks(count: int) -> range:
    """Chunk indices a bucket of ``count`` events may use."""
    return range((int(count) + CHUNK_EVENTS - 1) // CHUNK_EVENTS)


def _drop_bucket(state: KeyValueState, symbol: str, entry: list[int]) -> None:
    """Delete a bucket's chunk keys (only those that exist: a bucket restored from before chunking
    has all its events in chunk 0)."""
    bid, count = int(entry[0]), int(entry[1])
    for k in _chunks(count):
        key = bucket_key(symbol, bid, k)
        if k == 0 or state.get(key) is not None:
            state.delete(key)


def empty_meta() -> dict[str, Any]:
    return {"b": [], "mid": None, "dec": 0, "q": False, "last": None, "fit": None, "due": None, "req": False,
            "sdec": 0}


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
    return decimals(price, MAX_DECIMALS)


def tick_from_decimals(d: int) -> float:
    """The tick the window's prices imply: one unit of their finest decimal (at least 1e-6)."""
    return unit_from_decimals(d)


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
        _drop_bucket(state, symbol, buckets.pop(0))
    bid = t_ns // bucket_ns
    while buckets and sum(c for _, c in buckets) >= max_events and buckets[0][0] != bid:
        _drop_bucket(state, symbol, buckets.pop(0))
    if sum(c for _, c in buckets) >= max_events:
        return False
    for entry in buckets:
        if entry[0] == bid:
            break
    else:
        entry = [bid, 0]
        buckets.append(entry)
        buckets.sort()
    key = bucket_key(symbol, bid, int(entry[1]) // CHUNK_EVENTS)
    current = state.get(key)
    events = list(current["e"]) if current is not None else []
    events.append(event)
    state.put(key, {"e": events})
    entry[1] += 1
    meta["last"] = newest
    if len(event) == 5:
        meta["mid"] = 0.5 * (float(event[1]) + float(event[3]))
        meta["dec"] = max(int(meta["dec"]), price_decimals(float(event[1])), price_decimals(float(event[3])))
        sizes: tuple[float, ...] = (float(event[2]), float(event[4]))
    else:
        sizes = (float(event[2]),)
    meta["sdec"] = max(int(meta.get("sdec", 0)), *(decimals(x, MAX_SIZE_DECIMALS) for x in sizes))
    return True


def size_unit_of(meta: dict[str, Any]) -> float:
    """The size unit that counts every size the window has seen as a whole number (1 for shares,
    1e-5 for BTC quoted to five decimals); a symbol stored before sizes were tracked keeps 1."""
    return unit_from_decimals(int(meta.get("sdec", 0)))


def event_count(meta: dict[str, Any]) -> int:
    return sum(int(c) for _, c in meta["b"])


def window_events(state: KeyValueState, symbol: str, meta: dict[str, Any], limit: int) -> list[list[Any]]:
    """The newest ``limit`` events of the window, in time order (ties keep arrival order)."""
    picked: list[list[Any]] = []
    for bid, count in reversed(meta["b"]):
        events: list[list[Any]] = []
        for k in _chunks(count):  # index order = arrival order
            stored = state.get(bucket_key(symbol, int(bid), k))
            if stored is not None:
                events.extend(stored["e"])
        if not events:
            continue
        chunk = sorted(events, key=lambda e: e[0])
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
