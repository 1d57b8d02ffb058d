"""Event-time consistency of published records: each describes the world as of its own ``event_ts``
and nothing later (DESIGN.md, "Live equals replay"; issue 13).

Why a checker of its own: byte equality with a replay says live and replay agree, not that either
is right; a record that carries a quote newer than its ``event_ts`` is wrong even if a replay
repeats it. These functions judge outputs against the *input topics' records* only (data, not
processing order), and return one message per violation so a test can report the share.

``event_ts`` strings carry microseconds; an event time in nanoseconds is within the microsecond
that its formatted string names, so "at or before event_ts" is judged against its last nanosecond.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streams.timeutil import parse_ts_ns
from torghut_domain.envelopes import parse_quote

_US = 999  # the nanoseconds an event_ts string truncates


def _as_of(event_ts: str) -> int:
    return parse_ts_ns(event_ts) + _US


class QuoteBook:
    """The touch of each symbol as of any event time, from quote envelopes in topic (offset) order.

    A quote older than one before it in the topic is not the book (the state consumer ignores it as
    late, whatever the processing order), so the book as of ``t`` is the last quote at or before
    ``t`` of the quotes that are each at least as new as every quote before them."""

    def __init__(self, envelopes: Iterable[Mapping[str, Any]]) -> None:
        self._times: dict[str, list[int]] = defaultdict(list)
        self._touch: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for env in envelopes:
            q = parse_quote(env)
            times = self._times[q.symbol]
            if times and q.event_ts_ns < times[-1]:
                continue
            times.append(q.event_ts_ns)
            self._touch[q.symbol].append((q.bid_price, q.ask_price))

    def touch(self, symbol: str, as_of_ns: int) -> tuple[float, float] | None:
        times = self._times.get(symbol, [])
        i = bisect.bisect_right(times, as_of_ns)
        return self._touch[symbol][i - 1] if i else None


def state_violations(states: Iterable[Mapping[str, Any]], book: QuoteBook) -> list[str]:
    """``microstructure_state_v1``: bid/ask are the touch of the symbol's latest quote at or before
    ``event_ts`` (not an older one, not a newer one)."""
    out = []
    for s in states:
        touch = book.touch(s["symbol"], _as_of(s["event_ts"]))
        if touch is None or touch != (s["bid_price"], s["ask_price"]):
            out.append(f"state {s['symbol']}@{s['event_ts']}: touch {(s['bid_price'], s['ask_price'])} "
                       f"!= quote as of event_ts {touch}")
    return out


def advice_violations(advice: Iterable[Mapping[str, Any]], states: Mapping[tuple[int, int], Mapping[str, Any]],
                      state_topic: str, shortfalls: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """``execution_advice_v1``: advice from a state record has that record's ``event_ts`` and symbol
    (``states`` by (partition, offset)); advice re-issued on a shortfall record is not older than
    that record; reference-shortfall figures come from a record at or before ``event_ts``."""
    out = []
    by_symbol: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for sf in shortfalls:
        if sf.get("is_reference_order"):
            by_symbol[sf["symbol"]].append((parse_ts_ns(sf["event_ts"]), sf["shortfall_bps_p50"],
                                            sf["shortfall_bps_p95"]))
    for a in advice:
        where = f"advice {a['symbol']}@{a['event_ts']}"
        as_of = _as_of(a["event_ts"])
        if a["input_topic"] == state_topic:
            source = states.get((a["input_partition"], a["input_offset"]))
            if source is None:
                out.append(f"{where}: its state record {a['input_partition']}/{a['input_offset']} does not exist")
            elif source["event_ts"] != a["event_ts"] or source["symbol"] != a["symbol"]:
                out.append(f"{where}: made from state {source['symbol']}@{source['event_ts']}")
        p50 = a.get("expected_shortfall_bps_p50")
        if p50 is not None and by_symbol and not any(
                ts <= as_of and (p50, a["expected_shortfall_bps_p95"]) == (x50, x95)
                for ts, x50, x95 in by_symbol[a["symbol"]]):
            out.append(f"{where}: shortfall figures not from a record at or before event_ts")
    return out


def tca_violations(records: Iterable[Mapping[str, Any]], quotes: Iterable[Mapping[str, Any]]) -> list[str]:
    """``tca_divergence_v1``: an arrival price from quotes is the mid of the latest quote at or
    before ``submitted_at`` (by event time), and the record is not older than the submission."""
    times: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for i, env in enumerate(quotes):
        q = parse_quote(env)
        times[q.symbol].append((q.event_ts_ns, i, 0.5 * (q.bid_price + q.ask_price)))
    for rows in times.values():
        rows.sort()
    out = []
    for r in records:
        where = f"tca {r['order_id']}@{r['event_ts']}"
        submitted = r.get("submitted_at")
        if submitted is not None and parse_ts_ns(r["event_ts"]) + _US < parse_ts_ns(submitted):
            out.append(f"{where}: older than its submission {submitted}")
        if r.get("arrival_source") == "quote_mid" and submitted is not None:
            rows = times.get(r["symbol"], [])
            i = bisect.bisect_right(rows, (parse_ts_ns(submitted), 1 << 62, 0.0))
            if not i or rows[i - 1][2] != r["arrival_price"]:
                out.append(f"{where}: arrival {r['arrival_price']} is not the mid as of {submitted}")
    return out


def alert_violations(alerts: Iterable[Mapping[str, Any]], inputs: Iterable[Mapping[str, Any]]) -> list[str]:
    """``execution_alert_v1`` raised by a record (it names a symbol): its ``event_ts`` is the event
    time of an input record of that symbol, the one that decided it, never a later one."""
    seen: dict[str, set[int]] = defaultdict(set)
    for value in inputs:
        symbol = value.get("symbol")
        if isinstance(symbol, str):
            seen[symbol].add(parse_ts_ns(value["event_ts"]))
    out = []
    for a in alerts:
        symbol = a.get("symbol")
        if symbol is not None and parse_ts_ns(a["event_ts"]) not in seen[symbol]:
            out.append(f"alert {a['alert_key']}@{a['event_ts']}: no input of {symbol} at that event time")
    return out
