"""The state features as readable per-record Python: the reference fold.

Why it exists beside the compiled fold (consumers/state/fold.py): this is the definition. It is
what docs/features.md describes and the unit tests check by hand, written with the formulas of
``features`` and the decayed sums of ``consumers.common.decay``, one update at a time on the state
dict. The compiled fold must give bit-identical states and records
(tests/consumers/test_state_reference.py). At run time the processor uses this module for what the
compiled fold does not cover: trade updates, L2 books, and the rare quote or trade the fold hands
back (a non-finite state to refuse with its exact reason, or values the fold's rows cannot mirror).

Every method works on the state dict ``s`` in place; the processor copies it first (copy-on-write)
and puts it afterwards, so a refused record never leaves a half-updated committed state.
"""

from __future__ import annotations

from math import log
from typing import Any, NamedTuple

from consumers.common.decay import NS_PER_S, decay_factor, ewma_count
from consumers.state import features as F
from consumers.state.config import StateConfig
from consumers.state.layout import finite_state
from consumers.state.regime import NORMAL, target_level_of
from streams.processor import InvalidRecord
from torghut_domain.envelopes import Quote, Trade, TradeUpdate

ACK_EVENTS = frozenset({"new", "accepted"})
FILL_EVENTS = frozenset({"fill", "partial_fill"})
UNFILLED_END_EVENTS = frozenset({"canceled", "expired"})


class Published(NamedTuple):
    """The features of one state record, and why it is emitted."""

    now: int
    spread: float
    depth: float
    ofi: float
    latency: float
    hazard: float
    crumb: float
    depth_source: str
    latency_source: str
    reason: str


class ReferenceFold:
    """The per-record updates of a symbol's state, and the emission decision (``finish``)."""

    def __init__(self, config: StateConfig) -> None:
        self.config = cfg = config
        self._l2_max_age_ns = cfg.l2_max_age_s * NS_PER_S
        self._warmup_ns = cfg.regime.warmup_s * NS_PER_S
        self._escalate_ns = cfg.regime.escalate_dwell_s * NS_PER_S
        self._relax_ns = cfg.regime.relax_dwell_s * NS_PER_S
        self._min_interval_ns = cfg.emit.min_interval_s * NS_PER_S
        self._heartbeat_ns = cfg.emit.heartbeat_s * NS_PER_S

    # -- per-input updates --------------------------------------------------------------------
    def on_quote(self, s: dict[str, Any], q: Quote) -> None:
        """Take a quote as the current book. A quote older than the one held is not the current book:
        it is refused (``late_quote``), so it reaches the DLQ and its metric instead of vanishing
        (DESIGN.md: nothing is dropped silently); the state is left as it was."""
        cfg = self.config
        t = q.event_ts_ns
        prev_t = s["q_t"]
        if prev_t is not None and t < prev_t:
            raise InvalidRecord("late_quote", f"{q.symbol}: event time {t} ns is older than the quote held "
                                              f"({prev_t} ns); the book stays as it is")
        self._feed_lag(s, t, q.ingest_ts_ns)
        bid, ask = q.bid_price, q.ask_price
        bs, as_ = q.bid_size * cfg.quote_size_multiplier, q.ask_size * cfg.quote_size_multiplier
        if prev_t is None:
            s["first_t"] = t
            s["ofi_t"] = t
        else:
            prev_bid, prev_ask = s["bid"], s["ask"]
            d = decay_factor(t - s["ofi_t"], cfg.ofi_tau_s)
            e = F.ofi_increment(prev_bid, s["bs"], prev_ask, s["as"], bid, bs, ask, as_)
            s["ofi_s"] = s["ofi_s"] * d + e
            s["ofi_a"] = s["ofi_a"] * d + abs(e)
            s["ofi_t"] = t
            # Realised variance of mid log returns: log(mid / previous mid), as a ratio of sums.
            r = log((bid + ask) / (prev_bid + prev_ask))
            dv = decay_factor(t - prev_t, cfg.vol_tau_s)
            s["rv_r2"] = s["rv_r2"] * dv + r * r
            s["rv_dt"] = s["rv_dt"] * dv + (t - prev_t) / NS_PER_S
        s["bid"], s["bs"], s["ask"], s["as"], s["q_t"] = bid, bs, ask, as_, t
        self.advance(s, t)

    def on_trade(self, s: dict[str, Any], tr: Trade) -> None:
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

    def on_trade_update(self, s: dict[str, Any], u: TradeUpdate) -> None:
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

    def on_book(self, s: dict[str, Any], ts_ns: int, depth: float) -> None:
        """An L2 snapshot's depth (already validated and summed by features.l2_depth_usd)."""
        if s["l2_t"] is None or ts_ns >= s["l2_t"]:
            s["l2_depth"], s["l2_t"] = depth, ts_ns
            if s["q_t"] is not None:
                self.advance(s, max(ts_ns, s["b_t"]))

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

    # -- derived features ---------------------------------------------------------------------
    def depth(self, s: dict[str, Any], now: int) -> tuple[float, str]:
        if s["l2_t"] is not None and now - s["l2_t"] <= self._l2_max_age_ns:
            return s["l2_depth"], "l2_book"
        return F.depth_top_of_book_usd(s["bid"], s["bs"], s["ask"], s["as"]), "top_of_book"

    def advance(self, s: dict[str, Any], t: int) -> None:
        """Roll the slow baselines forward with the values *held* since the last update, then take the
        current values.

        Each mean is kept as a bias-corrected pair (weighted sum, total weight): after an elapsed
        time T the weight is 1 - exp(-T/tau), and mean = sum / weight is the exact time-weighted
        exponential average of the history seen so far, with no artefact from an initial value.
        """
        spread = F.spread_bps(s["bid"], s["ask"])
        depth, _ = self.depth(s, t)
        vol = F.realized_volatility_bps(s["rv_r2"], s["rv_dt"])
        if s["b_t"] is not None and t > s["b_t"]:
            db = decay_factor(t - s["b_t"], self.config.baseline_tau_s)
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

    def step_regime(self, s: dict[str, Any], now: int, depth: float) -> bool:
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

    def latency(self, s: dict[str, Any], now: int) -> tuple[float, str]:
        max_age = self.config.latency_sample_max_age_s * NS_PER_S
        if s["lat_ack"] is not None and now - s["lat_ack_t"] <= max_age:
            return s["lat_ack"], "order_ack"
        if s["lat_fill"] is not None and now - s["lat_fill_t"] <= max_age:
            return s["lat_fill"], "first_fill"
        if s["lat_feed"] is not None:
            return s["lat_feed"], "feed_lag"
        return 0.0, "none"

    def fill_hazard(self, s: dict[str, Any], now: int) -> float:
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
        return F.blend_with_own_fills(p_model, s["own_s"] * do, s["own_n"] * do, cfg.own_fill_prior_strength)

    # -- emission -----------------------------------------------------------------------------
    def finish(self, s: dict[str, Any], t: int, symbol: str) -> Published | None:
        """After an input at event time ``t``: advance the clock and the regime, and decide whether
        the features are worth a record (None: no record). Raises InvalidRecord for a non-finite
        state: absurd magnitudes (finite inputs whose products overflow) would poison the baselines
        and break the changelog's strict JSON, so the record is refused and the state kept."""
        if not finite_state(s):
            raise InvalidRecord("non_finite_state", symbol)
        if s["last_t"] is None or t > s["last_t"]:
            s["last_t"] = t
        now = s["last_t"]
        if s["q_t"] is None:  # nothing to publish before the first quote
            return None
        depth, depth_src = self.depth(s, now)
        regime_changed = self.step_regime(s, now, depth)
        if not regime_changed and s["e_t"] is not None and now - s["e_t"] < self._min_interval_ns:
            # Nothing can be emitted inside the minimum interval except a regime change: skip the
            # feature evaluation entirely (the usual case at high quote rates).
            return None
        return self._evaluate(s, now, depth, depth_src, regime_changed)

    def _evaluate(self, s: dict[str, Any], now: int, depth: float, depth_src: str,
                  regime_changed: bool) -> Published | None:
        """Compute the published features and decide whether they are worth a record."""
        spread = s["cur_spread"]
        ofi = F.normalised_ofi(s["ofi_s"], s["ofi_a"])
        latency, latency_src = self.latency(s, now)
        hazard = self.fill_hazard(s, now)
        crumb = F.crumbling_quote_probability(s["bs"], s["as"])
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
            return None
        s["e_t"], s["e_spread"], s["e_depth"], s["e_ofi"], s["e_fh"] = now, spread, depth, ofi, hazard
        s["e_lat"], s["e_crumb"], s["e_reg"], s["e_dsrc"], s["e_lsrc"] = latency, crumb, s["reg"], depth_src, \
            latency_src
        return Published(now, spread, depth, ofi, latency, hazard, crumb, depth_src, latency_src, reason)

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
