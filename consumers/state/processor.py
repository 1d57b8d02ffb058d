"""The state consumer's Processor: Torghut quotes, trades, trade-updates and optional L2 depth ->
``microstructure_state_v1`` per symbol.

Why it is shaped like this:

* per-symbol state is one *flat* JSON dict under the key ``symbol``; each record works on a shallow
  copy, so an aborted transaction (the runtime drops pending writes) can never leave a half-mutated
  committed state behind. Runs of quotes and trades (``process_run``) fold the same state as rows in
  compiled code (consumers/state/quote_run.py) and leave it as ``SymbolRows`` until something needs
  the dict (the changelog, or this per-record path);
* every update is O(1) with plain floats (exponentially decayed sums, see consumers.common.decay),
  because the consumer must run at a good fraction of a passthrough's throughput;
* every decision uses event time only (the newest event time seen for the symbol), so a replay
  gives byte-identical outputs;
* it emits on a material change of any published feature, on a regime change, or on an event-time
  heartbeat, not on every tick: the state topic is compacted and read by Torghut, which only needs
  the latest meaningful value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from math import exp, isfinite, log, sqrt
from typing import Any

import numpy as np

from consumers.common.decay import NS_PER_S, decay_factor, ewma_count
from consumers.state import STATE_CONSUMER_VERSION
from consumers.state import features as F
from consumers.state import quote_run as R
from consumers.state.config import StateConfig
from consumers.state.regime import NORMAL, REGIME_NAMES, target_level_of
from streams.processor import (
    FORMAT_AVRO,
    FORMAT_TORGHUT_JSON,
    FORMAT_TORGHUT_QUOTE,
    Emit,
    InvalidRecord,
    KeyValueState,
    RawRecord,
    SourceRecord,
)
from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns
from streams.topics import topic
from streams.torghut import (
    Quote,
    Trade,
    TradeUpdate,
    decode_quote_columns,
    decode_trade_columns,
    parse_quote,
    parse_trade,
    parse_trade_update,
)

SCHEMA_VERSION = "microstructure_state_v1"
# Bump when keys are added to new_symbol_state(); older changelog states are upgraded on load.
STATE_LAYOUT_VERSION = 1
ACK_EVENTS = frozenset({"new", "accepted"})
FILL_EVENTS = frozenset({"fill", "partial_fill"})
UNFILLED_END_EVENTS = frozenset({"canceled", "expired"})


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
        "late": 0,
    }


_ACCUMULATORS = ("cur_spread", "cur_depth", "ofi_s", "ofi_a", "rv_r2", "rv_dt", "tr_bid", "tr_ask", "b_spread",
                 "b_depth", "b_vol", "l2_depth", "lat_feed", "lat_ack", "lat_fill")


def _finite_state(s: dict[str, Any]) -> bool:
    for key in _ACCUMULATORS:
        value = s[key]
        if value is not None and not math.isfinite(value):
            return False
    vol = s["cur_vol"]
    return vol is None or math.isfinite(vol)


class StateProcessor:
    """streams.Processor for MicrostructureStateV5. Constructor: ``StateProcessor(config=None)``."""

    name = "microstructure-state"

    def __init__(self, config: StateConfig | None = None, version: str = STATE_CONSUMER_VERSION) -> None:
        self.config = (config or StateConfig()).validate()
        self.version = version
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
        self._ts_cache_s = -1
        self._ts_cache_prefix = ""
        # Config-derived constants of the per-quote hot path, computed once (the config is frozen).
        # Each is the exact expression the formulas used inline, so results are bit-identical.
        cfg = self.config
        self._l2_max_age_ns = cfg.l2_max_age_s * NS_PER_S
        self._warmup_ns = cfg.regime.warmup_s * NS_PER_S
        self._escalate_ns = cfg.regime.escalate_dwell_s * NS_PER_S
        self._relax_ns = cfg.regime.relax_dwell_s * NS_PER_S
        self._min_interval_ns = cfg.emit.min_interval_s * NS_PER_S
        self._heartbeat_ns = cfg.emit.heartbeat_s * NS_PER_S
        self.run_topics = frozenset({self._quotes, self._trades})
        self._run_config = R.config_vector(cfg)
        self._quote_constants = (cfg.latency_alpha, cfg.quote_size_multiplier, cfg.ofi_tau_s, cfg.vol_tau_s,
                                 cfg.baseline_tau_s, self._l2_max_age_ns)

    # -- dispatch -----------------------------------------------------------------------------
    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        tp = record.topic
        if tp == self._quotes:
            value = record.value
            return self._on_quote(state, value if type(value) is Quote else parse_quote(value), record)
        if tp == self._trades:
            trade = parse_trade(record.value)
            s = self._load(state, trade.symbol)
            self._on_trade(s, trade)
            return self._finish(state, trade.symbol, s, trade.event_ts_ns, record, trade.ingest_ts_ns)
        if tp == self._updates:
            update = parse_trade_update(record.value)
            s = self._load(state, update.symbol)
            self._on_trade_update(s, update)
            return self._finish(state, update.symbol, s, update.event_ts_ns, record)
        if tp == self._book:
            symbol, ts_ns, depth = self._parse_book(record.value)
            s = self._load(state, symbol)
            if s["l2_t"] is None or ts_ns >= s["l2_t"]:
                s["l2_depth"], s["l2_t"] = depth, ts_ns
                if s["q_t"] is not None:
                    self._advance(s, max(ts_ns, s["b_t"]))
            return self._finish(state, symbol, s, ts_ns, record)
        raise InvalidRecord("unknown_topic", tp)

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the run fold before the first run, so the first batch
        does not stall for it; the runtime calls this at start, the offline driver never needs it."""
        R.warm_up()

    def process_run(self, partition: int, records: Sequence[RawRecord],
                    state: KeyValueState) -> list[tuple[int, Emit]] | None:
        """A run of quotes and trades through the compiled fold (consumers.state.quote_run), or None
        to have the runtime process it record by record (a record the fast decode or the fold can't
        vouch for)."""
        quotes, trades = self._quotes, self._trades
        topics = [r.topic for r in records]
        n = len(records)
        if topics.count(quotes) == n:
            cols = decode_quote_columns([r.value for r in records])
            if cols is None:
                return None
            kind = np.zeros(n, dtype=np.int8)
            symbol_of, times, values = cols.symbols, cols.times, cols.values
        else:
            q_idx = [i for i, name in enumerate(topics) if name == quotes]
            t_idx = [i for i, name in enumerate(topics) if name == trades]
            if len(q_idx) + len(t_idx) != n:
                return None
            qc = decode_quote_columns([records[i].value for i in q_idx]) if q_idx else None
            tc = decode_trade_columns([records[i].value for i in t_idx]) if t_idx else None
            if (q_idx and qc is None) or (t_idx and tc is None):
                return None
            kind = np.zeros(n, dtype=np.int8)
            times = np.empty((n, 2), dtype=np.int64)
            values = np.empty((n, 4), dtype=np.float64)
            symbol_of = [""] * n
            for idx, cols_, code in ((q_idx, qc, R.KIND_QUOTE), (t_idx, tc, R.KIND_TRADE)):
                if cols_ is not None:
                    kind[idx] = code
                    times[idx] = cols_.times
                    values[idx] = cols_.values
                    for i, symbol in zip(idx, cols_.symbols, strict=True):
                        symbol_of[i] = symbol
        index: dict[str, int] = {}
        sym = np.array([index.setdefault(symbol, len(index)) for symbol in symbol_of], dtype=np.int64)
        symbols = list(index)
        float_rows: list[list[float]] = []
        int_rows: list[list[int]] = []
        for symbol in symbols:
            current: Any = state.get(symbol)
            if type(current) is R.SymbolRows:
                float_rows.append(current.floats)
                int_rows.append(current.ints)
                continue
            try:
                row_f, row_i = R.to_rows([self._load(state, symbol)])
            except (TypeError, KeyError, OverflowError):
                return None
            float_rows += row_f
            int_rows += row_i
        floats = np.array(float_rows, dtype=np.float64)
        ints = np.array(int_rows, dtype=np.int64)
        out_idx = np.empty(n, dtype=np.int64)
        out_f = np.empty((n, 9), dtype=np.float64)
        out_i = np.empty((n, 5), dtype=np.int64)
        count = R.fold_events(floats, ints, kind, sym, times, values, self._run_config, out_idx, out_f, out_i)
        if count < 0:
            return None
        for symbol, row_f, row_i in zip(symbols, floats.tolist(), ints.tolist(), strict=True):
            state.put(symbol, R.SymbolRows(row_f, row_i))  # type: ignore[arg-type]
        if not count:
            return []
        out = self._out
        emits: list[tuple[int, Emit]] = []
        for i, row_f, row_i in zip(out_idx[:count].tolist(), out_f[:count].tolist(), out_i[:count].tolist(),
                                   strict=True):
            spread, depth, ofi, latency, hazard, crumb, vol, bid, ask = row_f
            now, reg, dsrc, lsrc, why = row_i
            symbol = symbol_of[i]
            value = self._state_record(symbol, now, spread, depth, ofi, latency, hazard, REGIME_NAMES[reg], crumb,
                                       R.DEPTH_SOURCES[dsrc], R.LATENCY_SOURCES[lsrc], bid, ask,
                                       None if vol != vol else vol, R.REASONS[why], records[i].topic, partition,
                                       records[i].offset, _ingest_of_column(times, i))
            emits.append((i, Emit(out, symbol, value, now // 1_000_000)))
        return emits

    @staticmethod
    def _load(state: KeyValueState, symbol: str) -> dict[str, Any]:
        current: Any = state.get(symbol)
        if current is None:
            return new_symbol_state()
        if type(current) is R.SymbolRows:  # left by the run path: a fresh dict, so copy-on-write holds
            return current.as_dict()
        if current.get("v") != STATE_LAYOUT_VERSION:
            # Restored from the changelog of an older version: keep what it has, default the rest.
            return {**new_symbol_state(), **current, "v": STATE_LAYOUT_VERSION}
        return current.copy()  # copy-on-write: the dict from state.get() is (or may become) committed

    # -- per-input updates --------------------------------------------------------------------
    def _on_quote(self, state: KeyValueState, q: Quote, record: SourceRecord) -> Iterable[Emit]:
        """The hot path (quotes are nearly all of the input): load, fold the quote in, step the
        regime and decide on emission in one function with locals, no per-feature helper calls.

        It is _load + the quote's own updates + _advance + _finish inlined, with the same formulas
        written out in the same order (outputs and states are bit-identical to the helper path).
        """
        symbol = q.symbol
        t = q.event_ts_ns
        current = state.get(symbol)
        s = current.copy() if type(current) is dict and current.get("v") == STATE_LAYOUT_VERSION \
            else self._load(state, symbol)
        prev_t = s["q_t"]
        if prev_t is not None and t < prev_t:
            s["late"] += 1  # an older quote than the one we hold: not the current book
            state.put(symbol, s)
            return ()
        alpha, mult, ofi_tau, vol_tau, baseline_tau, l2_max_age_ns = self._quote_constants
        ingest = q.ingest_ts_ns
        if ingest is not None:  # _feed_lag
            lag_ms = (ingest - t) / 1e6
            if not lag_ms > 0.0:
                lag_ms = 0.0  # negative lag is clock skew, not time travel
            lat = s["lat_feed"]
            s["lat_feed"] = lag_ms if lat is None else lat + alpha * (lag_ms - lat)
            s["lat_feed_t"] = t
        bid, ask = q.bid_price, q.ask_price
        bs, as_ = q.bid_size * mult, q.ask_size * mult
        if prev_t is not None:
            prev_bid, prev_ask = s["bid"], s["ask"]
            dt = t - s["ofi_t"]
            d = exp(-(dt / NS_PER_S) / ofi_tau) if dt > 0 else 1.0
            e = 0.0  # features.ofi_increment
            if bid >= prev_bid:
                e += bs
            if bid <= prev_bid:
                e -= s["bs"]
            if ask <= prev_ask:
                e -= as_
            if ask >= prev_ask:
                e += s["as"]
            ofi_s = s["ofi_s"] * d + e
            ofi_a = s["ofi_a"] * d + abs(e)
            s["ofi_s"], s["ofi_a"], s["ofi_t"] = ofi_s, ofi_a, t
            dt = t - prev_t
            r = log((bid + ask) / (prev_bid + prev_ask))
            dv = exp(-(dt / NS_PER_S) / vol_tau) if dt > 0 else 1.0
            rv_r2 = s["rv_r2"] * dv + r * r
            rv_dt = s["rv_dt"] * dv + dt / NS_PER_S
            s["rv_r2"], s["rv_dt"] = rv_r2, rv_dt
        else:
            s["first_t"] = t
            s["ofi_t"] = t
            ofi_s, ofi_a, rv_r2, rv_dt = s["ofi_s"], s["ofi_a"], s["rv_r2"], s["rv_dt"]
        s["bid"], s["bs"], s["ask"], s["as"], s["q_t"] = bid, bs, ask, as_, t

        # _advance(s, t): current values, and the baselines rolled forward with the held ones.
        spread = (ask - bid) / (0.5 * (bid + ask)) * 1e4
        l2_t = s["l2_t"]
        if l2_t is not None and t - l2_t <= l2_max_age_ns:
            depth, depth_src = s["l2_depth"], "l2_book"
        else:
            depth, depth_src = bid * bs + ask * as_, "top_of_book"
        vol = sqrt(rv_r2 / rv_dt) * 1e4 if rv_dt > 0.0 else None
        b_t = s["b_t"]
        if b_t is not None and t > b_t:
            db = exp(-((t - b_t) / NS_PER_S) / baseline_tau)
            w = 1.0 - db
            s["b_spread"] = b_spread = s["b_spread"] * db + w * s["cur_spread"]
            s["b_depth"] = b_depth = s["b_depth"] * db + w * s["cur_depth"]
            s["b_w"] = s["b_w"] * db + w
            held_vol = s["cur_vol"]
            if held_vol is not None:
                s["b_vol"] = b_vol = s["b_vol"] * db + w * held_vol
                s["b_vol_w"] = s["b_vol_w"] * db + w
            else:
                b_vol = s["b_vol"]
            s["b_t"] = t
        else:
            if b_t is None:
                s["b_t"] = t
            b_spread, b_depth, b_vol = s["b_spread"], s["b_depth"], s["b_vol"]
        s["cur_spread"], s["cur_depth"], s["cur_vol"] = spread, depth, vol

        # _finite_state, cheaply: a sum of finite terms is finite, and any inf/NaN term makes it
        # non-finite. Only the values this quote wrote are summed: every stored state passed the
        # check when it was put (and the changelog is strict JSON), so the others are finite.
        total = ofi_s + ofi_a + rv_r2 + rv_dt + spread + depth + b_spread + b_depth + b_vol
        if vol is not None:
            total += vol
        if not isfinite(total) and not _finite_state(s):  # a finite-terms overflow is not a refusal
            raise InvalidRecord("non_finite_state", symbol)

        last_t = s["last_t"]
        if last_t is None or t > last_t:
            s["last_t"] = now = t
        else:
            now = last_t
            depth, depth_src = self._depth(s, now)  # the L2 snapshot's age is judged at "now"
        regime_changed = self._step_regime(s, now, depth)
        e_t = s["e_t"]
        if not regime_changed and e_t is not None and now - e_t < self._min_interval_ns:
            # Nothing can be emitted inside the minimum interval except a regime change: skip the
            # feature evaluation entirely (the hot path at high quote rates).
            state.put(symbol, s)
            return ()
        return self._evaluate(state, symbol, s, now, depth, depth_src, regime_changed, record, q.ingest_ts_ns)

    def _on_trade(self, s: dict[str, Any], tr: Trade) -> None:
        t = tr.event_ts_ns
        self._feed_lag(s, t, tr.ingest_ts_ns)
        if s["bid"] is None:
            return
        # Volume executing at/through a touch depletes that touch's queue: trades at or below the bid
        # fill resting buys, at or above the ask fill resting sells; inside-spread prints are hidden
        # liquidity and consume neither queue.
        if tr.price <= s["bid"] or tr.price >= s["ask"]:
            d = decay_factor(t - s["tr_t"], self.config.trade_rate_tau_s)
            s["tr_bid"] *= d
            s["tr_ask"] *= d
            s["tr_t"] = max(t, s["tr_t"])
            s["tr_bid" if tr.price <= s["bid"] else "tr_ask"] += tr.size

    def _on_trade_update(self, s: dict[str, Any], u: TradeUpdate) -> None:
        cfg = self.config
        t = u.event_ts_ns
        submitted = u.submitted_at_ns
        if submitted is None or t < submitted:
            return
        age_ms = (t - submitted) / 1e6
        event = u.event
        if event in ACK_EVENTS:
            s["lat_ack"] = ewma_count(s["lat_ack"], age_ms, cfg.latency_alpha)
            s["lat_ack_t"] = t
            return
        is_limit = (u.order_type or "").lower() == "limit"
        horizon_ns = cfg.fill_hazard_horizon_s * NS_PER_S
        if event in FILL_EVENTS:
            first_fill = (u.filled_qty is not None and u.fill_qty is not None
                          and abs(u.filled_qty - u.fill_qty) <= 1e-9 * max(1.0, abs(u.filled_qty)))
            if not first_fill:
                return
            if (u.order_type or "").lower() == "market":
                s["lat_fill"] = ewma_count(s["lat_fill"], age_ms, cfg.latency_alpha)
                s["lat_fill_t"] = t
            elif is_limit:
                self._own_fill_trial(s, t, success=(t - submitted) <= horizon_ns)
        elif (event in UNFILLED_END_EVENTS and is_limit and not u.filled_qty
              and (t - submitted) >= horizon_ns):
            # Rested unfilled for at least the horizon: a failure. Cancelled sooner: censored, ignored.
            self._own_fill_trial(s, t, success=False)

    def _own_fill_trial(self, s: dict[str, Any], t: int, *, success: bool) -> None:
        d = decay_factor(t - s["own_t"], self.config.own_fill_tau_s) if s["own_n"] > 0 else 1.0
        s["own_n"] = s["own_n"] * d + 1.0
        s["own_s"] = s["own_s"] * d + (1.0 if success else 0.0)
        s["own_t"] = max(t, s["own_t"])

    def _feed_lag(self, s: dict[str, Any], t: int, ingest_ns: int | None) -> None:
        if ingest_ns is None:
            return
        lag_ms = max(0.0, (ingest_ns - t) / 1e6)  # negative lag is clock skew, not time travel
        s["lat_feed"] = ewma_count(s["lat_feed"], lag_ms, self.config.latency_alpha)
        s["lat_feed_t"] = t

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

    # -- derived features ---------------------------------------------------------------------
    def _depth(self, s: dict[str, Any], now: int) -> tuple[float, str]:
        if s["l2_t"] is not None and now - s["l2_t"] <= self.config.l2_max_age_s * NS_PER_S:
            return s["l2_depth"], "l2_book"
        return F.depth_top_of_book_usd(s["bid"], s["bs"], s["ask"], s["as"]), "top_of_book"

    def _advance(self, s: dict[str, Any], t: int) -> None:
        """Roll the slow baselines forward with the values *held* since the last update, then take the
        current values.

        Each mean is kept as a bias-corrected pair (weighted sum, total weight): after an elapsed
        time T the weight is 1 - exp(-T/tau), and mean = sum / weight is the exact time-weighted
        exponential average of the history seen so far, with no artefact from an initial value.
        """
        cfg = self.config
        spread = F.spread_bps(s["bid"], s["ask"])
        depth, _ = self._depth(s, t)
        vol = F.realized_volatility_bps(s["rv_r2"], s["rv_dt"])
        if s["b_t"] is not None and t > s["b_t"]:
            dt = t - s["b_t"]
            db = decay_factor(dt, cfg.baseline_tau_s)
            held_spread, held_depth, held_vol = s["cur_spread"], s["cur_depth"], s["cur_vol"]
            s["b_spread"] = s["b_spread"] * db + (1.0 - db) * held_spread
            s["b_depth"] = s["b_depth"] * db + (1.0 - db) * held_depth
            s["b_w"] = s["b_w"] * db + (1.0 - db)
            if held_vol is not None:
                s["b_vol"] = s["b_vol"] * db + (1.0 - db) * held_vol
                s["b_vol_w"] = s["b_vol_w"] * db + (1.0 - db)
        if s["b_t"] is None or t > s["b_t"]:
            s["b_t"] = t
        s["cur_spread"], s["cur_depth"], s["cur_vol"] = spread, depth, vol

    def _step_regime(self, s: dict[str, Any], now: int, depth: float) -> bool:
        """Advance the regime machine (regime.step) to ``now`` in place; True if the level switched.

        The ratios are current values over their slow baselines, None during warm-up (the regime
        stays normal). Current, not smoothed, values on purpose: the dwell time then has an exact
        meaning (how long the book must *stay* abnormal), and a one-update spike of any size is
        indicated only while it is the live quote. ``depth`` is the current depth at ``now``.
        """
        level, pending_dir = s["reg"], s["reg_dir"]
        b_w = s["b_w"]
        if now - s["first_t"] < self._warmup_ns or b_w <= 0.0:
            if not level and not pending_dir:
                return False
            target = NORMAL
        else:
            b_depth = s["b_depth"] / b_w
            vol, b_vol_w = s["cur_vol"], s["b_vol_w"]
            b_vol = s["b_vol"] / b_vol_w if b_vol_w > 0.0 else 0.0
            target = target_level_of(level, s["cur_spread"] / (s["b_spread"] / b_w),
                                     depth / b_depth if b_depth > 0.0 else 1.0,
                                     vol / b_vol if b_vol > 0.0 and vol is not None else None,
                                     self.config.regime)
        if target == level:
            if pending_dir:
                s["reg_dir"], s["reg_pt"] = 0, 0
            return False
        direction = 1 if target > level else -1
        if pending_dir != direction:
            # A new indication starts now (a reversal also restarts the clock).
            s["reg_dir"], s["reg_pt"] = direction, now
            pending_since = now
        else:
            pending_since = s["reg_pt"]
        if now - pending_since >= (self._escalate_ns if direction > 0 else self._relax_ns):
            s["reg"], s["reg_dir"], s["reg_pt"], s["reg_t"] = target, 0, 0, now
            return True
        return False

    def _latency(self, s: dict[str, Any], now: int) -> tuple[float, str]:
        max_age = self.config.latency_sample_max_age_s * NS_PER_S
        if s["lat_ack"] is not None and now - s["lat_ack_t"] <= max_age:
            return s["lat_ack"], "order_ack"
        if s["lat_fill"] is not None and now - s["lat_fill_t"] <= max_age:
            return s["lat_fill"], "first_fill"
        if s["lat_feed"] is not None:
            return s["lat_feed"], "feed_lag"
        return 0.0, "none"

    def _fill_hazard(self, s: dict[str, Any], now: int) -> float:
        cfg = self.config
        tr_bid, tr_ask = s["tr_bid"], s["tr_ask"]
        if tr_bid or tr_ask:
            d = decay_factor(now - s["tr_t"], cfg.trade_rate_tau_s)
            h = cfg.fill_hazard_horizon_s
            p_bid = F.queue_fill_probability(tr_bid * d / cfg.trade_rate_tau_s, s["bs"], h)
            p_ask = F.queue_fill_probability(tr_ask * d / cfg.trade_rate_tau_s, s["as"], h)
            p_model = 0.5 * (p_bid + p_ask)
        else:
            p_model = 0.0  # no trade seen at the touch: both rates are 0, so both probabilities are 0
        if s["own_n"] <= 0:
            return p_model
        do = decay_factor(now - s["own_t"], cfg.own_fill_tau_s)
        return F.blend_with_own_fills(p_model, s["own_s"] * do, s["own_n"] * do,
                                      cfg.own_fill_prior_strength)

    # -- emission -----------------------------------------------------------------------------
    def _format_ts(self, ts_ns: int) -> str:
        """streams.timeutil.format_ts_ns with the whole-second prefix cached (one entry: event times
        of consecutive emits are nearly always in the same or the next second)."""
        seconds, rem = divmod(ts_ns, NS_PER_S)
        if seconds != self._ts_cache_s:
            self._ts_cache_s = seconds
            self._ts_cache_prefix = format_ts_ns(seconds * NS_PER_S)[:-7]
        return f"{self._ts_cache_prefix}{rem // 1000:06d}Z"

    def _finish(self, state: KeyValueState, symbol: str, s: dict[str, Any], t: int,
                record: SourceRecord, ingest_ns: int | None = None) -> Iterable[Emit]:
        if not _finite_state(s):
            # Absurd magnitudes (finite inputs whose products overflow) would poison the baselines
            # and break the changelog's strict JSON: refuse the record, keep the previous state.
            raise InvalidRecord("non_finite_state", symbol)
        if s["last_t"] is None or t > s["last_t"]:
            s["last_t"] = t
        now = s["last_t"]
        if s["q_t"] is None:  # nothing to publish before the first quote
            state.put(symbol, s)
            return ()
        depth, depth_src = self._depth(s, now)
        regime_changed = self._step_regime(s, now, depth)
        if (not regime_changed and s["e_t"] is not None
                and now - s["e_t"] < self._min_interval_ns):
            # Nothing can be emitted inside the minimum interval except a regime change: skip the
            # feature evaluation entirely (the hot path at high quote rates).
            state.put(symbol, s)
            return ()
        return self._evaluate(state, symbol, s, now, depth, depth_src, regime_changed, record, ingest_ns)

    def _evaluate(self, state: KeyValueState, symbol: str, s: dict[str, Any], now: int, depth: float,
                  depth_src: str, regime_changed: bool, record: SourceRecord,
                  ingest_ns: int | None) -> Iterable[Emit]:
        """Compute the published features, decide whether they are worth a record, put the state."""
        spread = s["cur_spread"]
        ofi = F.normalised_ofi(s["ofi_s"], s["ofi_a"])
        latency, latency_src = self._latency(s, now)
        hazard = self._fill_hazard(s, now)
        bs, as_ = s["bs"], s["as"]
        crumb = F.crumbling_quote_probability(bs, as_)
        e_t = s["e_t"]
        if e_t is None:
            reason = "first"
        elif regime_changed or s["reg"] != s["e_reg"]:
            reason = "regime_change"
        elif self._material_change(s, spread, depth, depth_src, ofi, latency, latency_src, hazard, crumb):
            reason = "material_change"
        elif now - e_t >= self._heartbeat_ns:
            reason = "heartbeat"
        else:
            state.put(symbol, s)
            return ()
        s["e_t"], s["e_spread"], s["e_depth"], s["e_ofi"], s["e_fh"] = now, spread, depth, ofi, hazard
        s["e_lat"], s["e_crumb"], s["e_reg"], s["e_dsrc"], s["e_lsrc"] = latency, crumb, s["reg"], depth_src, \
            latency_src
        state.put(symbol, s)
        value = self._state_record(symbol, now, spread, depth, ofi, latency, hazard, REGIME_NAMES[s["reg"]], crumb,
                                   depth_src, latency_src, s["bid"], s["ask"], s["cur_vol"], reason, record.topic,
                                   record.partition, record.offset, ingest_ns)
        return (Emit(self._out, symbol, value, now // 1_000_000),)

    def _state_record(self, symbol: str, now: int, spread: float, depth: float, ofi: float, latency: float,
                      hazard: float, regime: str, crumb: float, depth_src: str, latency_src: str, bid: float,
                      ask: float, vol: float | None, reason: str, source_topic: str, source_partition: int,
                      source_offset: int, source_ingest_ns: int | None) -> dict[str, Any]:
        """One ``microstructure_state_v1`` value (both paths build it here, so they cannot drift)."""
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

    def _material_change(self, s: dict[str, Any], spread: float, depth: float, depth_src: str, ofi: float,
                         latency: float, latency_src: str, hazard: float, crumb: float) -> bool:
        """Whether any published feature moved materially since the last emitted record (an OR of
        independent tests, ordered so that the usual trigger, top-of-book churn, is tested first)."""
        em = self.config.emit
        e_depth, e_spread, e_lat = s["e_depth"], s["e_spread"], s["e_lat"]
        return (abs(depth - e_depth) > em.depth_rel * e_depth
                or abs(crumb - s["e_crumb"]) >= em.crumbling_abs
                or abs(spread - e_spread) >= max(em.spread_bps_abs, em.spread_rel * e_spread)
                or abs(ofi - s["e_ofi"]) >= em.ofi_abs
                or abs(hazard - s["e_fh"]) >= em.fill_hazard_abs
                or abs(latency - e_lat) >= max(em.latency_ms_abs, em.latency_rel * e_lat)
                or depth_src != s["e_dsrc"] or latency_src != s["e_lsrc"])


def _ingest_of_column(times: np.ndarray, i: int) -> int | None:
    """Ingest time of run record ``i`` from the run's (event, ingest) time column (INT_NONE: none)."""
    ingest = int(times[i, 1])
    return None if ingest == R.INT_NONE else ingest
