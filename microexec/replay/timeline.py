"""The advice in force over time: the state and advisor processors over the market feed, offline.

Why through run_offline: the replay must judge the advice Torghut would have received, so it runs
the very processors the consumers run, with the runtime's semantics (as ``microexec offline``
does), and then asks Torghut's own client rules (``AdviceBook.advice_for``) what applies at each
order's arrival, with only the records whose event time is at or before that arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from consumers.advisor.processor import AdvisorProcessor
from microexec.offline_cli import state_run
from producers.records import FeedRecord
from streams.offline import as_inputs, run_offline
from streams.timeutil import TimestampError, parse_ts_ns
from torghut_client import AdviceBook, AppliedAdvice, BaselineOrder, ClientRules, Coordinates
from torghut_domain.topics import topic


@dataclass(frozen=True)
class TimedRecord:
    ts_ns: int
    kind: str  # "state" | "advice"
    symbol: str
    value: dict[str, Any]
    coords: Coordinates


@dataclass(frozen=True)
class Timeline:
    records: list[TimedRecord]  # event-time order; a state before the advice it produced
    dead_letters: int

    def count(self, kind: str) -> int:
        return sum(r.kind == kind for r in self.records)


def build_timeline(feed: Sequence[FeedRecord], advisor: AdvisorProcessor | None = None,
                   say: Callable[[str], None] = lambda _m: None) -> Timeline:
    """State records from the feed, advice records from the states, merged in event time."""
    say("state processor")
    states = state_run(feed)
    say("advisor processor")
    advice = run_offline(advisor or AdvisorProcessor(), as_inputs(states.outputs))
    out: list[tuple[int, int, int, TimedRecord]] = []
    for rank, (kind, emits) in enumerate((("state", states.outputs), ("advice", advice.outputs))):
        name = topic(kind)
        for offset, e in enumerate(emits):
            if not isinstance(e.value, dict):
                continue
            try:
                ts = parse_ts_ns(str(e.value.get("event_ts")))
            except TimestampError:
                ts = (e.timestamp_ms or 0) * 1_000_000
            out.append((ts, rank, offset, TimedRecord(ts, kind, str(e.key), e.value, Coordinates(name, 0, offset))))
    out.sort(key=lambda r: r[:3])
    return Timeline([r[3] for r in out], len(states.dlq) + len(advice.dlq))


@dataclass(frozen=True)
class Arrival:
    """What Torghut knew and decided when an order arrived."""

    applied: AppliedAdvice
    state: dict[str, Any] | None  # the state record in force (None before the first)
    advice: dict[str, Any] | None

    @property
    def regime(self) -> str:
        """The liquidity regime at arrival; ``no_state`` when no usable (present, fresh) state."""
        reason = self.applied.fallback_reason or ""
        if self.state is None or reason == "stale_state" or reason.startswith("invalid_state"):
            return "no_state"
        return str(self.state.get("liquidity_regime", "no_state"))


def arrivals(timeline: Timeline, orders: Sequence[tuple[str, int]], baseline: BaselineOrder,
             rules: ClientRules | None = None) -> list[Arrival]:
    """For each ``(symbol, arrival_ns)``, in the given order: Torghut's decision at that instant."""
    index = sorted(range(len(orders)), key=lambda i: (orders[i][1], i))
    book = AdviceBook(rules)
    recs = timeline.records
    k = 0
    result: list[Arrival | None] = [None] * len(orders)
    for i in index:
        symbol, now = orders[i]
        while k < len(recs) and recs[k].ts_ns <= now:
            r = recs[k]
            (book.update_state if r.kind == "state" else book.update_advice)(r.symbol, r.value, r.coords)
            k += 1
        state, adv = book.latest(symbol)
        result[i] = Arrival(book.advice_for(symbol, now, baseline), state, adv)
    return [a for a in result if a is not None]
