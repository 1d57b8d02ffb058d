"""The partition clock and the deadline of every tracked order, as keyed state.

Why sharded: a partition may track tens of thousands of orders (open ones, completed ones waiting,
emitted markers). One index value holding all of them would be rewritten to the changelog on every
commit that touches an order and, at ~60 bytes an entry, would pass Kafka's 1 MB record limit near
20,000 orders. The index is split by a stable hash of the order id into ``SHARDS`` keys
(``__index__:<n>``), each a small ``{order_id: deadline_ns}``; the clock key ``__clock__`` holds the
clock ``t``, the number of entries ``n``, each non-empty shard's earliest deadline ``mins`` and the
overall earliest ``next``, so a record that reaches no deadline reads one key and loads no shard.

Values are never mutated in place (the runtime's per-record rollback keeps references).
"""

from __future__ import annotations

import zlib
from typing import Any

from streams.processor import KeyValueState

CLOCK_KEY = "__clock__"
SHARD_PREFIX = "__index__:"
SHARDS = 64


def shard_of(order_id: str) -> int:
    """Stable across processes and Python versions (unlike ``hash``), so replays shard alike."""
    return zlib.crc32(order_id.encode("utf-8")) % SHARDS


class Deadlines:
    """One record's view of the clock and the deadlines; ``flush`` writes back what changed."""

    __slots__ = ("_dirty", "_shards", "meta", "state")

    def __init__(self, state: KeyValueState) -> None:
        self.state = state
        self.meta: dict[str, Any] = state.get(CLOCK_KEY) or {"t": None, "n": 0, "mins": {}, "next": None}
        self._shards: dict[int, dict[str, int]] = {}
        self._dirty: set[int] = set()

    @property
    def clock(self) -> int | None:
        return self.meta["t"]

    def advance(self, ts: int) -> bool:
        """Move the clock to ``ts`` if later; True if it moved."""
        if self.meta["t"] is not None and ts <= self.meta["t"]:
            return False
        self.meta = {**self.meta, "t": ts}
        self.state.put(CLOCK_KEY, self.meta)
        return True

    def _shard(self, number: int) -> dict[str, int]:
        shard = self._shards.get(number)
        if shard is None:
            shard = self._shards[number] = dict(self.state.get(SHARD_PREFIX + str(number)) or {})
        return shard

    def __len__(self) -> int:
        return int(self.meta["n"])

    def get(self, order_id: str) -> int | None:
        return self._shard(shard_of(order_id)).get(order_id)

    def set(self, order_id: str, deadline: int | None) -> None:
        number = shard_of(order_id)
        shard = self._shard(number)
        current = shard.get(order_id)
        if current == deadline:
            return
        if deadline is None:
            del shard[order_id]
        else:
            shard[order_id] = deadline
        n = self.meta["n"] + (1 if current is None else 0) - (1 if deadline is None else 0)
        self.meta = {**self.meta, "n": n}
        self._dirty.add(number)

    def due(self, ts: int) -> list[tuple[int, str]]:
        """(deadline, order id) of every deadline at or before ``ts``, earliest first (ties by id)."""
        if self.meta["next"] is None or self.meta["next"] > ts:
            return []
        out = []
        for key, earliest in self.meta["mins"].items():
            if earliest <= ts:
                out += [(d, o) for o, d in self._shard(int(key)).items() if d <= ts]
        return sorted(out)

    def earliest(self) -> tuple[int, str] | None:
        """The earliest deadline and its order (ties by order id), to expire early when full."""
        self._refresh()
        if not self.meta["mins"]:
            return None
        best = min(self.meta["mins"].values())
        candidates = [(d, o) for key, m in self.meta["mins"].items() if m == best
                      for o, d in self._shard(int(key)).items() if d == best]
        return min(candidates)

    def _refresh(self) -> None:
        """Recompute the earliest deadlines of changed shards."""
        if not self._dirty:
            return
        mins = dict(self.meta["mins"])
        for number in self._dirty:
            shard = self._shards[number]
            if shard:
                mins[str(number)] = min(shard.values())
            else:
                mins.pop(str(number), None)
        self.meta = {**self.meta, "mins": mins, "next": min(mins.values()) if mins else None}

    def flush(self) -> None:
        """Write changed shards and the clock's summary of them."""
        if not self._dirty:
            return
        self._refresh()
        for number in sorted(self._dirty):
            shard = self._shards[number]
            if shard:
                self.state.put(SHARD_PREFIX + str(number), shard)
            else:
                self.state.delete(SHARD_PREFIX + str(number))
            self._shards[number] = dict(shard)  # later changes in this record must not touch the written value
        self._dirty.clear()
        self.state.put(CLOCK_KEY, self.meta)
