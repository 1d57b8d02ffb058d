"""The advice in force at an instant: every state and advice record kept, read back as of a time.

Why not the AdviceBook alone: it holds the *latest* record per symbol, and a live executor that
decides when records happen to arrive would read advice from after its order's arrival (look-ahead)
or before it, depending on timing. Keeping the history and building the book as of the arrival
instant makes the decision a function of the data (event time), like the consumers' own.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from typing import Any

from streams.timeutil import TimestampError, parse_ts_ns
from torghut_client import AdviceBook, AppliedAdvice, BaselineOrder, ClientRules, Coordinates


class _Series:
    def __init__(self) -> None:
        self.times: list[int] = []
        self.items: list[tuple[dict[str, Any], Coordinates | None]] = []

    def add(self, ts: int, value: dict[str, Any], coords: Coordinates | None) -> None:
        i = bisect.bisect_right(self.times, ts)
        self.times.insert(i, ts)
        self.items.insert(i, (value, coords))

    def as_of(self, ts: int) -> tuple[dict[str, Any], Coordinates | None] | None:
        i = bisect.bisect_right(self.times, ts)
        return self.items[i - 1] if i else None

    def prune_before(self, ts: int) -> None:
        """Drop records superseded before ``ts`` (keep the one in force at ``ts``)."""
        i = bisect.bisect_right(self.times, ts) - 1
        if i > 0:
            del self.times[:i]
            del self.items[:i]

    def last_ts(self) -> int | None:
        return self.times[-1] if self.times else None


class HistoryBook(AdviceBook):
    """An AdviceBook (the subscriber feeds it as usual) that also keeps every record by event time."""

    def __init__(self, rules: ClientRules | None = None) -> None:
        super().__init__(rules)
        self._hist: dict[tuple[str, str], _Series] = {}
        self._hist_lock = threading.Lock()

    def update_state(self, symbol: str, value: Mapping[str, Any] | None, coords: Coordinates | None = None) -> None:
        super().update_state(symbol, value, coords)
        self._keep("state", symbol, value, coords)

    def update_advice(self, symbol: str, value: Mapping[str, Any] | None, coords: Coordinates | None = None) -> None:
        super().update_advice(symbol, value, coords)
        self._keep("advice", symbol, value, coords)

    def _keep(self, kind: str, symbol: str, value: Mapping[str, Any] | None, coords: Coordinates | None) -> None:
        if value is None:
            return
        try:
            ts = parse_ts_ns(value.get("event_ts"))  # type: ignore[arg-type]
        except (TimestampError, TypeError, ValueError):
            return  # unparseable event time: the book keeps it for reporting, the history cannot place it
        with self._hist_lock:
            self._hist.setdefault((kind, symbol), _Series()).add(ts, dict(value), coords)

    def seen_past(self, symbol: str, ts: int) -> bool:
        """True once both a state and an advice record of ``symbol`` newer than ``ts`` arrived: then
        (per-symbol order on the topics) everything as of ``ts`` is known."""
        with self._hist_lock:
            st, adv = self._hist.get(("state", symbol)), self._hist.get(("advice", symbol))
            return all(s is not None and (s.last_ts() or -1) > ts for s in (st, adv))

    def prune_before(self, ts: int) -> None:
        """Forget what no decision at or after ``ts`` can need, so a long run's memory stays flat."""
        with self._hist_lock:
            for series in self._hist.values():
                series.prune_before(ts)

    def as_of(self, symbol: str, ts: int) -> AdviceBook:
        """A book holding ``symbol``'s latest state and advice with event time <= ``ts``."""
        book = AdviceBook(self.rules)
        with self._hist_lock:
            for kind, update in (("state", book.update_state), ("advice", book.update_advice)):
                series = self._hist.get((kind, symbol))
                found = series.as_of(ts) if series is not None else None
                if found is not None:
                    update(symbol, found[0], found[1])
        return book

    def advice_as_of(self, symbol: str, ts: int, baseline: BaselineOrder) -> AppliedAdvice:
        """Torghut's decision (``AdviceBook.advice_for``) at ``ts`` on the records in force at ``ts``."""
        return self.as_of(symbol, ts).advice_for(symbol, ts, baseline)
