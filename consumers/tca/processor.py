"""The TCA consumer's Processor: trade updates + quotes + shortfall distributions + microstructure
state -> ``tca_divergence_v1`` per completed order.

All four inputs are co-partitioned by symbol (shortfall records are keyed by order id but placed on
their symbol's partition), so one partition's keyed state holds everything an order needs:

* ``o:<order_id>``: the order's join (consumers.tca.orders), or once emitted a marker ``{"x": t}``
  that refuses a second record and counts late inputs;
* ``q:<symbol>`` / ``r:<symbol>``: mid and liquidity-regime histories (consumers.tca.history);
* ``u:<symbol>``: orders of the symbol whose arrival quote is not settled yet, ``{order_id: submitted_at}``;
* ``w:<symbol>``: the symbol's drift window (consumers.tca.windows);
* ``__clock__`` and ``__index__:<n>``: the partition's event-time clock (newest event time of any
  input) and every tracked order's deadline (consumers.tca.deadlines).

Deadlines, all in event time on the partition clock (never the wall clock): a completed order waits
until ``completion + wait`` and is then emitted with what it has; an order that never completes is
evicted ``order_ttl`` after its last event; an emitted marker is dropped ``done_retention`` after
emission. Every expiry and eviction is counted (``tca_orders_total{outcome}``). Deadlines are
checked before the record that moved the clock is applied: the record happened after them.

A record is emitted exactly once, as soon as the completion, every fill the completion reports, a
usable distribution and a settled arrival quote are all present, whatever order they came in, or
when the wait expires. docs/tca.md has the rules and their reasons.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from consumers.tca import history, windows
from consumers.tca import metrics as M
from consumers.tca import orders as O
from consumers.tca.config import TcaConfig
from consumers.tca.deadlines import Deadlines
from streams.processor import FORMAT_AVRO, Emit, InvalidRecord, KeyValueState, SourceRecord
from streams.timeutil import TimestampError, parse_ts_ns
from torghut_domain.envelopes import Quote, TradeUpdate, parse_quote, parse_trade_update
from torghut_domain.formats import FORMAT_TORGHUT_JSON, FORMAT_TORGHUT_QUOTE
from torghut_domain.topics import topic

log = logging.getLogger("microexec.tca")


class _Pass:
    """What one record does to the partition: the state, the clock and deadlines (written back once,
    at the end), and the records it emits."""

    __slots__ = ("deadlines", "emits", "state")

    def __init__(self, state: KeyValueState) -> None:
        self.state = state
        self.deadlines = Deadlines(state)
        self.emits: list[Emit] = []

    @property
    def clock(self) -> int:
        clock = self.deadlines.clock
        assert clock is not None  # set by _advance before anything else happens
        return clock


class TcaProcessor:
    """streams.Processor for SimulatorBackedTCAService. ``TcaProcessor(config=None)`` reads
    ``TcaConfig.from_env()``; the config is fixed for the process lifetime."""

    name = "tca"

    def __init__(self, config: TcaConfig | None = None) -> None:
        self.config = (config if config is not None else TcaConfig.from_env()).validate()
        self._updates, self._quotes = topic("trade_updates"), topic("quotes")
        self._shortfall, self._state = topic("shortfall"), topic("state")
        self._out = topic("tca_divergence")
        # Order matters for the event-time merge's tie rule only; the join itself is order-free.
        self.input_formats: Mapping[str, str] = {
            self._quotes: FORMAT_TORGHUT_QUOTE,
            self._state: FORMAT_AVRO,
            self._shortfall: FORMAT_AVRO,
            self._updates: FORMAT_TORGHUT_JSON,
        }
        self.output_schemas: Mapping[str, str | None] = {self._out: O.SCHEMA_VERSION}
        # Event-time merge: quotes set the clock; order events and derived tables are sparse.
        self.sparse_inputs = frozenset({self._updates, self._shortfall, self._state})
        self._symbol_label = M.LabelCap(self.config.metric_max_symbols)
        self._strategy_label = M.LabelCap(self.config.metric_max_strategies)

    # -- dispatch -----------------------------------------------------------------------------
    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        tp, value = record.topic, record.value
        if tp == self._quotes:
            quote = value if type(value) is Quote else parse_quote(value)
            p = self._advance(state, quote.event_ts_ns)
            self._on_quote(p, quote)
        elif tp == self._updates:
            update = parse_trade_update(value)
            p = self._advance(state, update.event_ts_ns)
            self._on_update(p, update)
        elif tp == self._shortfall:
            dist = O.parse_distribution(value)
            if dist is None:  # a reference order: the advisor's, not ours (its time still counts)
                p = self._advance(state, _event_ts(value))
            else:
                p = self._advance(state, dist.event_ts_ns)
                self._on_distribution(p, dist)
        elif tp == self._state:
            if value is None:
                return ()  # a compaction tombstone of the state topic: nothing to learn
            symbol, ts, regime = _parse_state(value)
            p = self._advance(state, ts)
            key = "r:" + symbol
            before = state.get(key)
            after = history.record(before, ts, regime, self.config.regime_history)
            if after is not before:
                state.put(key, after)
        else:
            raise InvalidRecord("unknown_topic", tp)
        p.deadlines.flush()
        return p.emits

    # -- the clock and deadlines --------------------------------------------------------------
    def _advance(self, state: KeyValueState, ts: int) -> _Pass:
        """Move the partition clock to ``ts`` if later, and act on every deadline it reached."""
        p = _Pass(state)
        if p.deadlines.advance(ts):
            for deadline, order_id in p.deadlines.due(ts):
                if p.deadlines.get(order_id) == deadline:  # an earlier expiry may have moved it
                    self._on_deadline(p, order_id, "deadline")
        return p

    def _on_deadline(self, p: _Pass, order_id: str, cause: str) -> None:
        key = "o:" + order_id
        o = p.state.get(key)
        if o is None:
            p.deadlines.set(order_id, None)
        elif "x" in o:
            p.state.delete(key)  # an emitted order's marker has served its time
            p.deadlines.set(order_id, None)
        elif o["done"] is not None:
            try:
                self._finish(p, order_id, o, "wait_expired" if cause == "deadline" else cause)
            except Exception:
                # Not this record's fault: raising would dead-letter it, roll the clock back, and fail
                # again on every later record of the partition. The order is closed and counted.
                log.exception("tca: order %s could not be finished at its deadline", order_id)
                M.ORDERS.labels("failed").inc()
                self._forget_waiting(p, order_id, o)
                p.state.put(key, {"x": p.clock})
                p.deadlines.set(order_id, p.clock + self.config.done_retention_ns)
        else:
            p.state.delete(key)
            p.deadlines.set(order_id, None)
            self._forget_waiting(p, order_id, o)
            M.ORDERS.labels("evicted_never_completed" if cause == "deadline" else "evicted_" + cause).inc()

    def _track(self, p: _Pass, order_id: str, o: O.Order) -> None:
        """Store the order, set its deadline, and emit it if it is ready."""
        deadlines = p.deadlines
        while deadlines.get(order_id) is None and len(deadlines) >= self.config.max_orders:
            # Full: expire the earliest deadline now (an emitted order's marker, or a completed order
            # emitted with what it has, or an open order evicted), until there is room.
            earliest = deadlines.earliest()
            assert earliest is not None
            self._on_deadline(p, earliest[1], "capacity")
        if O.ready(o, self.config.qty_tolerance) or _unfilled_completion(o):
            self._finish(p, order_id, o, "complete")
            return
        p.state.put("o:" + order_id, o)
        done = o["done"]
        deadline = done["t"] + self.config.wait_ns if done is not None else o["last"] + self.config.order_ttl_ns
        p.deadlines.set(order_id, deadline)
        if deadline <= p.clock:
            # A late record (beyond the merge's lateness bound): the clock already passed the deadline
            # it sets, and only a clock move sweeps deadlines, so without this the order would wait for
            # the partition's next newer record, forever at the end of a feed.
            self._on_deadline(p, order_id, "deadline")

    # -- inputs -------------------------------------------------------------------------------
    def _on_update(self, p: _Pass, u: TradeUpdate) -> None:
        key = "o:" + u.order_id
        o = p.state.get(key)
        if o is not None and "x" in o:
            M.LATE.labels("trade_update").inc()
            return
        o = O.apply_update(o, u, self.config.max_fills_per_order)
        self._track(p, u.order_id, self._settle_if_known(p, u.order_id, o))

    def _on_distribution(self, p: _Pass, d: O.Distribution) -> None:
        key = "o:" + d.order_id
        o = p.state.get(key)
        if o is not None and "x" in o:
            M.LATE.labels("distribution").inc()
            return
        o = O.apply_distribution(o, d)
        if o["last"] is None:
            o["last"] = d.event_ts_ns
        self._track(p, d.order_id, o)

    def _on_quote(self, p: _Pass, q: Quote) -> None:
        key = "q:" + q.symbol
        before = p.state.get(key)
        after = history.record(before, q.event_ts_ns, (q.bid_price + q.ask_price) / 2.0, self.config.quote_history)
        if after is not before:
            p.state.put(key, after)
        waiting = p.state.get("u:" + q.symbol)
        if not waiting:
            return
        settled = sorted(order_id for order_id, sub in waiting.items() if q.event_ts_ns > sub)
        if not settled:
            return
        rest = {k: v for k, v in waiting.items() if k not in settled}
        if rest:
            p.state.put("u:" + q.symbol, rest)
        else:
            p.state.delete("u:" + q.symbol)
        for order_id in settled:
            o = p.state.get("o:" + order_id)
            if o is None or "x" in o:
                continue
            o = {**o, "arr": _pair(history.lookup(after, o["sub"])), "set": True}
            self._track(p, order_id, o)

    def _settle_if_known(self, p: _Pass, order_id: str, o: O.Order) -> O.Order:
        """Settle the arrival quote if a quote after submitted_at was already seen, else register
        the order to be settled by the first such quote."""
        sub = o["sub"]
        if sub is None or o["set"]:
            return o
        quotes = p.state.get("q:" + o["sym"])
        newest = history.newest_time(quotes)
        if newest is not None and newest > sub:
            self._forget_waiting(p, order_id, o)
            return {**o, "arr": _pair(history.lookup(quotes, sub)), "set": True}
        waiting = p.state.get("u:" + o["sym"]) or {}
        if waiting.get(order_id) != sub:
            p.state.put("u:" + o["sym"], {**waiting, order_id: sub})
        return o

    def _forget_waiting(self, p: _Pass, order_id: str, o: O.Order) -> None:
        """Take the order out of its symbol's orders waiting for an arrival quote."""
        waiting = p.state.get("u:" + o["sym"])
        if waiting and order_id in waiting:
            rest = {k: v for k, v in waiting.items() if k != order_id}
            if rest:
                p.state.put("u:" + o["sym"], rest)
            else:
                p.state.delete("u:" + o["sym"])

    # -- output -------------------------------------------------------------------------------
    def _finish(self, p: _Pass, order_id: str, o: O.Order, cause: str) -> None:
        """Emit the order's record (or count it unfilled) and leave the emitted marker."""
        cfg = self.config
        done = o["done"]
        assert done is not None
        self._forget_waiting(p, order_id, o)
        marker_at = p.clock
        p.state.put("o:" + order_id, {"x": marker_at})
        p.deadlines.set(order_id, marker_at + cfg.done_retention_ns)
        if not o["set"] and o["sub"] is not None:  # the wait expired first: the best quote we have
            o = {**o, "arr": _pair(history.lookup(p.state.get("q:" + o["sym"]), o["sub"]))}
        realized = O.realized_fills(o, cfg.qty_tolerance)
        if realized is None:
            M.ORDERS.labels("unfilled").inc()
            return
        at = o["sub"] if o["sub"] is not None else done["t"]
        seen = history.lookup(p.state.get("r:" + o["sym"]), at)
        value = O.divergence_values(order_id, o, realized, None if seen is None else seen[1])
        wkey = "w:" + o["sym"]
        result = windows.observe(p.state.get(wkey), value["divergence_bps"], size=cfg.window_orders,
                                 tolerance_bps=cfg.drift_tolerance_bps, k=cfg.drift_windows)
        if value["divergence_bps"] is not None:
            p.state.put(wkey, result.state)
        value["window_mean_abs_divergence_bps"] = result.mean_abs_bps
        value["window_closed"] = result.closed
        value["drift_windows"] = result.drift_windows
        value["recalibration_requested"] = result.recalibrate
        p.emits.append(Emit(self._out, o["sym"], value, done["t"] // 1_000_000))
        self._observe(value, realized, cause)

    def _observe(self, value: dict[str, Any], realized: O.Realized, cause: str) -> None:
        symbol = self._symbol_label(value["symbol"])
        strategy = self._strategy_label(value["strategy"])
        M.SLIPPAGE.labels(symbol, strategy).observe(value["slippage_bps"])
        M.SHORTFALL_NOTIONAL.labels(symbol, strategy).observe(value["shortfall_notional"])
        if value["divergence_bps"] is not None:
            M.DIVERGENCE.labels(symbol).observe(value["divergence_bps"])
        if value["window_mean_abs_divergence_bps"] is not None:
            M.WINDOW_MEAN.labels(symbol).set(value["window_mean_abs_divergence_bps"])
        if value["recalibration_requested"]:
            M.RECALIBRATION.labels(symbol).inc()
        M.ORDERS.labels("expected_missing" if value["expected_missing"] else "emitted").inc()
        if cause != "complete":
            M.ORDERS.labels("emitted_after_" + cause).inc()
        if realized.fill_source == "order":
            M.ORDERS.labels("fills_incomplete_used_order_aggregate").inc()
        if realized.avg_mismatch:
            M.ORDERS.labels("avg_fill_mismatch").inc()


def _pair(entry: tuple[int, Any] | None) -> list[Any] | None:
    """A history entry as the JSON list the changelog will hold (equal before and after a restore)."""
    return None if entry is None else [entry[0], entry[1]]


def _unfilled_completion(o: O.Order) -> bool:
    """Completed with nothing filled: no record will be emitted, so nothing is worth waiting for."""
    done = o["done"]
    return done is not None and done["fq"] == 0 and not o["fills"]


def _event_ts(value: Mapping[str, Any]) -> int:
    try:
        return parse_ts_ns(value.get("event_ts"))  # type: ignore[arg-type]
    except (TimestampError, TypeError) as exc:
        raise InvalidRecord("bad_timestamp", f"event_ts: {exc}") from exc


def _parse_state(value: Any) -> tuple[str, int, str]:
    if not isinstance(value, Mapping):
        raise InvalidRecord("wrong_envelope", "state record is not an object")
    symbol, regime = value.get("symbol"), value.get("liquidity_regime")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRecord("missing_field", "symbol")
    if not isinstance(regime, str) or not regime:
        raise InvalidRecord("missing_field", "liquidity_regime")
    return symbol, _event_ts(value), regime
