"""The state consumer's Processor: Torghut quotes, trades, trade-updates and optional L2 depth ->
``microstructure_state_v1`` per symbol.

Why it is shaped like this:

* the features are defined once, readably, in ``reference`` (per record, on the state dict), and
  computed at speed once, in ``fold`` (numba, on rows). Quotes and trades, nearly all the input, go
  through the compiled fold on both runtime paths: ``process_run`` folds a run of one partition,
  ``process`` a run of one record. The reference takes trade updates, L2 books and the rare record
  the fold hands back (see fold.py); the two agree bit for bit (tests/consumers/test_state_reference.py);
* per-symbol state is one *flat* JSON dict under the key ``symbol`` (``layout``); each record works
  on a copy, so an aborted transaction (the runtime drops pending writes) can never leave a
  half-mutated committed state behind. After the compiled fold the state stays as ``SymbolRows``
  until something needs the dict (the changelog, or a record for the reference fold);
* every decision uses event time only (the newest event time seen for the symbol), so a replay
  gives byte-identical outputs;
* it emits on a material change of any published feature, on a regime change, or on an event-time
  heartbeat, not on every tick: the state topic is compacted and read by Torghut, which only needs
  the latest meaningful value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from consumers.common.decay import NS_PER_S
from consumers.state import STATE_CONSUMER_VERSION
from consumers.state import features as F
from consumers.state.config import StateConfig
from consumers.state.encoding import StateBodyWriter
from consumers.state.eviction import TTL_KEY, Eviction
from consumers.state.fold import (
    KIND_QUOTE,
    KIND_TRADE,
    N_OUT_F,
    N_OUT_I,
    REASONS,
    fold_events,
    fold_one,
)
from consumers.state.fold import warm_up as warm_up_fold
from consumers.state.fold_config import fold_config
from consumers.state.layout import (
    DEPTH_SOURCES,
    INT_NONE,
    LATENCY_SOURCES,
    STATE_LAYOUT_VERSION,
    SymbolRows,
    new_symbol_state,
    to_rows,
    upgraded,
)
from consumers.state.reference import Published, ReferenceFold
from consumers.state.regime import REGIME_NAMES
from streams.processor import (
    FORMAT_AVRO,
    Emit,
    EncodedRecord,
    InvalidRecord,
    KeyValueState,
    RawRecord,
    SourceRecord,
)
from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns
from torghut_domain.envelopes import Quote, parse_quote, parse_trade, parse_trade_update
from torghut_domain.fast_path import decode_quote_columns, decode_trade_columns
from torghut_domain.formats import FORMAT_TORGHUT_JSON, FORMAT_TORGHUT_QUOTE
from torghut_domain.topics import topic
from torghut_domain.ts_kernel import warm_up as warm_up_timestamps

__all__ = ["SCHEMA_VERSION", "STATE_LAYOUT_VERSION", "TTL_KEY", "StateProcessor", "new_symbol_state"]

SCHEMA_VERSION = "microstructure_state_v1"
_NO_STATE = new_symbol_state()
_INT64_END = 2**63


class StateProcessor:
    """streams.Processor for MicrostructureStateV5. ``compiled=False`` runs everything through the
    reference fold (no runs, no numba): the oracle the differential tests compare against."""

    name = "microstructure-state"

    def __init__(self, config: StateConfig | None = None, version: str = STATE_CONSUMER_VERSION, *,
                 compiled: bool = True) -> None:
        self.config = (config or StateConfig()).validate()
        self.version = version
        self.compiled = compiled
        self.reference = ReferenceFold(self.config)
        self._quotes, self._trades = topic("quotes"), topic("trades")
        self._updates, self._book = topic("trade_updates"), topic("book_l2")
        self._out = topic("state")
        self.input_formats: Mapping[str, str] = {
            self._quotes: FORMAT_TORGHUT_QUOTE,  # decoded straight to a validated Quote (typed fast path)
            self._trades: FORMAT_TORGHUT_JSON,
            self._updates: FORMAT_TORGHUT_JSON,
            self._book: FORMAT_AVRO,
        }
        self.output_schemas: Mapping[str, str | None] = {self._out: SCHEMA_VERSION}
        # For the event-time merge (docs/ordering.md): quotes and trades are the dense market streams
        # that set the merge's clock; order events and the optional depth feed must not hold them back.
        self.sparse_inputs = frozenset({self._updates, self._book})
        self.run_topics = frozenset({self._quotes, self._trades}) if compiled else frozenset()
        self._fold_config = fold_config(self.config)
        self._eviction = Eviction(self.config.ttl_s, self.config.sweeps_per_ttl)
        # Output buffers of the per-record fold (a processor is used by one thread).
        self._one_out = (np.empty((1, N_OUT_F), np.float64), np.empty((1, N_OUT_I), np.int64))
        self._ts_cache_s = -1
        self._ts_cache_prefix = ""
        self._bodies = StateBodyWriter(SCHEMA_VERSION, version, self.config.fill_hazard_horizon_s, self._format_ts,
                                       REGIME_NAMES, DEPTH_SOURCES, LATENCY_SOURCES, REASONS)

    # -- dispatch -----------------------------------------------------------------------------
    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        tp = record.topic
        ref = self.reference
        if tp == self._quotes:
            value = record.value
            q = value if type(value) is Quote else parse_quote(value)
            self._eviction.sweep(state, q.event_ts_ns)
            if self.compiled:
                emits = self._fold_one(state, q.symbol, KIND_QUOTE, q.event_ts_ns, q.ingest_ts_ns,
                                       q.bid_price, q.bid_size, q.ask_price, q.ask_size, record)
                if emits is not None:
                    return emits
            s = self._load(state, q.symbol, q.event_ts_ns)
            ref.on_quote(s, q)  # raises late_quote for a quote older than the book held
            return self._finish(state, q.symbol, s, q.event_ts_ns, record, q.ingest_ts_ns)
        if tp == self._trades:
            trade = parse_trade(record.value)
            self._eviction.sweep(state, trade.event_ts_ns)
            if self.compiled:
                emits = self._fold_one(state, trade.symbol, KIND_TRADE, trade.event_ts_ns, trade.ingest_ts_ns,
                                       trade.price, trade.size, 0.0, 0.0, record)
                if emits is not None:
                    return emits
            s = self._load(state, trade.symbol, trade.event_ts_ns)
            ref.on_trade(s, trade)
            return self._finish(state, trade.symbol, s, trade.event_ts_ns, record, trade.ingest_ts_ns)
        if tp == self._updates:
            update = parse_trade_update(record.value)
            self._eviction.sweep(state, update.event_ts_ns)
            s = self._load(state, update.symbol, update.event_ts_ns)
            ref.on_trade_update(s, update)
            return self._finish(state, update.symbol, s, update.event_ts_ns, record)
        if tp == self._book:
            symbol, ts_ns, depth = self._parse_book(record.value)
            self._eviction.sweep(state, ts_ns)
            s = self._load(state, symbol, ts_ns)
            ref.on_book(s, ts_ns, depth)
            return self._finish(state, symbol, s, ts_ns, record)
        raise InvalidRecord("unknown_topic", tp)

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the fold before the first record, so the first batch
        does not stall for it; the runtime calls this at start, the offline driver never needs it."""
        if self.compiled:
            warm_up_fold()
            warm_up_timestamps()

    def _load(self, state: KeyValueState, symbol: str, t: int | None = None) -> dict[str, Any]:
        """The symbol's state as a fresh dict to work on; an empty one when there is none or (``t``
        given) it outlived the TTL at ``t``."""
        current: Any = state.get(symbol)
        if current is None or (t is not None and self._eviction.expired(current, t)):
            return new_symbol_state()
        if type(current) is SymbolRows:  # left by the run path: a fresh dict, so copy-on-write holds
            return current.as_dict()
        if current.get("v") != STATE_LAYOUT_VERSION:
            return upgraded(current)  # restored from the changelog of an older version
        return current.copy()  # copy-on-write: the dict from state.get() is (or may become) committed

    # -- the compiled fold ----------------------------------------------------------------------
    def _fold_one(self, state: KeyValueState, symbol: str, kind: int, t: int, ingest: int | None, v0: float,
                  v1: float, v2: float, v3: float, record: SourceRecord) -> Iterable[Emit] | None:
        """One quote or trade through the compiled fold; None to leave it to the reference (also for
        times beyond int64 or a number that is not a float, which the rows would not hold as is)."""
        if not (INT_NONE < t < _INT64_END and (ingest is None or INT_NONE < ingest < _INT64_END)
                and type(v0) is float and type(v1) is float and type(v2) is float and type(v3) is float):
            return None
        current: Any = state.get(symbol)
        if type(current) is SymbolRows:
            floats, ints = np.array([current.floats], np.float64), np.array([current.ints], np.int64)
        else:
            if current is None:
                current = _NO_STATE
            elif current.get("v") != STATE_LAYOUT_VERSION:
                current = self._load(state, symbol, t)
            try:
                row_f, row_i = to_rows([current])  # reads, never writes: the committed dict stays as it is
            except (TypeError, KeyError, OverflowError):
                return None
            floats, ints = np.array(row_f, np.float64), np.array(row_i, np.int64)
        out_f, out_i = self._one_out
        count = fold_one(floats, ints, kind, t, INT_NONE if ingest is None else ingest, v0, v1, v2, v3,
                         self._fold_config, out_f, out_i)
        if count < 0:
            return None
        state.put(symbol, SymbolRows(floats[0].tolist(), ints[0].tolist()))  # type: ignore[arg-type]
        if not count:
            return ()
        row_i = out_i[0].tolist()
        value = self._record_of_row(symbol, out_f[0].tolist(), row_i, record.topic, record.partition, record.offset,
                                    ingest)
        return (Emit(self._out, symbol, value, row_i[0] // 1_000_000),)

    def process_run(self, partition: int, records: Sequence[RawRecord],
                    state: KeyValueState) -> list[tuple[int, Emit]] | None:
        """A run of quotes and trades through the compiled fold, or None to have the runtime process
        it record by record (a record the fast decode or the fold can't vouch for)."""
        return self.process_run_columns(partition, [r.topic for r in records], [r.offset for r in records],
                                        [r.value for r in records], state)

    def process_run_columns(self, partition: int, topics: Sequence[str], offsets: Sequence[int],
                            values: Sequence[bytes | None], state: KeyValueState) -> list[tuple[int, Emit]] | None:
        """``process_run`` on the run's columns (streams.processor.ColumnRunProcessor: the runtime's path)."""
        quotes, trades = self._quotes, self._trades
        n = len(topics)
        if topics.count(quotes) == n:
            cols = decode_quote_columns(values)
            if cols is None:
                return None
            kind = np.zeros(n, dtype=np.int8)
            symbol_of, times, values_ = cols.symbols, cols.times, cols.values
        else:
            q_idx = [i for i, name in enumerate(topics) if name == quotes]
            t_idx = [i for i, name in enumerate(topics) if name == trades]
            if len(q_idx) + len(t_idx) != n:
                return None
            qc = decode_quote_columns([values[i] for i in q_idx]) if q_idx else None
            tc = decode_trade_columns([values[i] for i in t_idx]) if t_idx else None
            if (q_idx and qc is None) or (t_idx and tc is None):
                return None
            kind = np.zeros(n, dtype=np.int8)
            times = np.empty((n, 2), dtype=np.int64)
            values_ = np.empty((n, 4), dtype=np.float64)
            symbol_of = [""] * n
            for idx, cols_, code in ((q_idx, qc, KIND_QUOTE), (t_idx, tc, KIND_TRADE)):
                if cols_ is not None:
                    kind[idx] = code
                    times[idx] = cols_.times
                    values_[idx] = cols_.values
                    for i, symbol in zip(idx, cols_.symbols, strict=True):
                        symbol_of[i] = symbol
        if self._eviction.run_crosses_sweep(state, int(times[0, 0]), int(times[:, 0].max())):
            return None  # the run reaches a sweep: the per-record path sweeps at the exact record
        symbols = list(dict.fromkeys(symbol_of))  # in order of first appearance
        index = {symbol: i for i, symbol in enumerate(symbols)}
        sym = np.fromiter(map(index.__getitem__, symbol_of), dtype=np.int64, count=n)
        float_rows: list[list[float]] = []
        int_rows: list[list[int]] = []
        for symbol in symbols:
            current: Any = state.get(symbol)
            if type(current) is SymbolRows:
                float_rows.append(current.floats)
                int_rows.append(current.ints)
                continue
            try:
                row_f, row_i = to_rows([self._load(state, symbol)])  # the fold itself applies the TTL
            except (TypeError, KeyError, OverflowError):
                return None
            float_rows += row_f
            int_rows += row_i
        floats = np.array(float_rows, dtype=np.float64)
        ints = np.array(int_rows, dtype=np.int64)
        out_idx = np.empty(n, dtype=np.int64)
        out_f = np.empty((n, N_OUT_F), dtype=np.float64)
        out_i = np.empty((n, N_OUT_I), dtype=np.int64)
        count = fold_events(floats, ints, kind, sym, times, values_, self._fold_config, out_idx, out_f, out_i)
        if count < 0:
            return None
        for symbol, row_f, row_i in zip(symbols, floats.tolist(), ints.tolist(), strict=True):
            state.put(symbol, SymbolRows(row_f, row_i))  # type: ignore[arg-type]
        if not count:
            return []
        return [(i, self._emit(symbol_of[i], row_f, row_i, topics[i], partition, offsets[i],
                               _ingest_of_column(times, i)))
                for i, row_f, row_i in zip(out_idx[:count].tolist(), out_f[:count].tolist(),
                                           out_i[:count].tolist(), strict=True)]

    def _emit(self, symbol: str, row_f: list[float], row_i: list[int], source_topic: str, source_partition: int,
              source_offset: int, ingest: int | None) -> Emit:
        """The state record of one of a run's outputs (fold.OUT_* columns): its Avro body written
        from the row (consumers/state/encoding.py), its dict only if something reads it. Only the
        run path, which only the runtime takes, emits these; ``process`` (also the offline driver's
        path) emits the dict itself."""
        body = self._bodies.body(symbol, row_f, row_i, source_topic, source_partition, source_offset, ingest)
        build = partial(self._record_of_row, symbol, row_f, row_i, source_topic, source_partition, source_offset,
                        ingest)
        return Emit(self._out, symbol, EncodedRecord(SCHEMA_VERSION, body, build), row_i[0] // 1_000_000)

    def _record_of_row(self, symbol: str, row_f: list[float], row_i: list[int], source_topic: str,
                       source_partition: int, source_offset: int, ingest: int | None) -> dict[str, Any]:
        """The dict of an output row (what ``EncodedRecord`` builds when its fields are read)."""
        spread, depth, ofi, latency, hazard, crumb, vol, bid, ask = row_f
        now, reg, dsrc, lsrc, why = row_i
        return self._state_record(symbol, now, spread, depth, ofi, latency, hazard, REGIME_NAMES[reg], crumb,
                                  DEPTH_SOURCES[dsrc], LATENCY_SOURCES[lsrc], bid, ask, None if vol != vol else vol,
                                  REASONS[why], source_topic, source_partition, source_offset, ingest)

    # -- the reference fold's records -------------------------------------------------------------
    def _finish(self, state: KeyValueState, symbol: str, s: dict[str, Any], t: int,
                record: SourceRecord, ingest_ns: int | None = None) -> Iterable[Emit]:
        published: Published | None = self.reference.finish(s, t, symbol)  # raises before the state is put
        state.put(symbol, s)
        if published is None:
            return ()
        p = published
        value = self._state_record(symbol, p.now, p.spread, p.depth, p.ofi, p.latency, p.hazard,
                                   REGIME_NAMES[s["reg"]], p.crumb, p.depth_source, p.latency_source, s["bid"],
                                   s["ask"], s["cur_vol"], p.reason, record.topic, record.partition, record.offset,
                                   ingest_ns)
        return (Emit(self._out, symbol, value, p.now // 1_000_000),)

    def _parse_book(self, value: Any) -> tuple[str, int, float]:
        if not isinstance(value, dict):
            raise InvalidRecord("wrong_envelope", "l2 book record is not an object")
        symbol = value.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise InvalidRecord("missing_field", "symbol")
        event_ts = value.get("event_ts")
        if not isinstance(event_ts, str):
            raise InvalidRecord("missing_field", "event_ts")
        try:
            ts_ns = parse_ts_ns(event_ts)
        except TimestampError as exc:
            raise InvalidRecord("bad_timestamp", f"event_ts: {exc}") from exc
        return symbol, ts_ns, F.l2_depth_usd(value, self.config.l2_levels)

    # -- emission -----------------------------------------------------------------------------
    def _format_ts(self, ts_ns: int) -> str:
        """streams.timeutil.format_ts_ns with the whole-second prefix cached (one entry: event times
        of consecutive emits are nearly always in the same or the next second)."""
        seconds, rem = divmod(ts_ns, NS_PER_S)
        if seconds != self._ts_cache_s:
            self._ts_cache_s = seconds
            self._ts_cache_prefix = format_ts_ns(seconds * NS_PER_S)[:-7]
        return f"{self._ts_cache_prefix}{rem // 1000:06d}Z"

    def _state_record(self, symbol: str, now: int, spread: float, depth: float, ofi: float, latency: float,
                      hazard: float, regime: str, crumb: float, depth_src: str, latency_src: str, bid: float,
                      ask: float, vol: float | None, reason: str, source_topic: str, source_partition: int,
                      source_offset: int, source_ingest_ns: int | None) -> dict[str, Any]:
        """One ``microstructure_state_v1`` value (both folds' records are built here, so they cannot drift)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "symbol": symbol,
            "event_ts": self._format_ts(now),
            "spread_bps": spread,
            "depth_top5_usd": depth,
            "order_flow_imbalance": ofi,
            "latency_ms_estimate": latency,
            "fill_hazard": hazard,
            "liquidity_regime": regime,
            "crumbling_quote_probability": crumb,
            "mechanical_liquidity_withdrawal_probability": None,
            "depth_source": depth_src,
            "latency_source": latency_src,
            "fill_hazard_horizon_s": self.config.fill_hazard_horizon_s,
            "bid_price": bid,
            "ask_price": ask,
            "mid_price": 0.5 * (bid + ask),
            "realized_volatility_bps": vol,
            "emit_reason": reason,
            "source_topic": source_topic,
            "source_partition": source_partition,
            "source_offset": source_offset,
            "source_ingest_ts": None if source_ingest_ns is None else self._format_ts(source_ingest_ns),
            "producer_version": self.version,
        }


def _ingest_of_column(times: np.ndarray, i: int) -> int | None:
    """Ingest time of run record ``i`` from the run's (event, ingest) time column (INT_NONE: none)."""
    ingest = int(times[i, 1])
    return None if ingest == INT_NONE else ingest
