"""The state features, compiled: quotes and trades folded into per-symbol rows in one numba loop.

Why compiled: quotes are nearly all of the state consumer's input, and folding them one Python call
at a time cost more than the exactly-once passthrough of the same records. Both runtime paths use
this one loop: ``StateProcessor.process_run`` hands it a run of consecutive quotes and trades of one
partition, ``StateProcessor.process`` a run of one.

It computes what the reference fold (consumers/state/reference.py, the readable definition that
docs/features.md describes) computes, with the same operations in the same order, so states and
records are bit-identical (tests/consumers/test_state_reference.py checks it on synthetic and
random feeds). It never refuses a record itself: wherever the reference could raise (a non-finite
state) or behave in a way int64/float64 rows cannot mirror (a missing value used in arithmetic,
time gaps beyond 2**53 ns), the loop stops and returns the record's index, and the caller hands
that record to the reference, which then gives the exact result or the exact DLQ reason.

The configuration reaches the loop as a ``FoldConfig`` record (consumers/state/fold_config.py).
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

from consumers.state.config import StateConfig
from consumers.state.fold_config import NS, fold_config
from consumers.state.layout import (
    ACCUMULATOR_COLUMNS,
    CODE_KEYS,
    FLOAT_KEYS,
    INT_KEYS,
    INT_NONE,
    new_symbol_state,
    to_rows,
)

# Columns of the float and int rows, named as the state dict's keys (layout.FLOAT_KEYS, INT_KEYS +
# CODE_KEYS): the fold reads f[BID] where the reference reads s["bid"].
(BID, BS, ASK, AS, OFI_S, OFI_A, RV_R2, RV_DT, CUR_SPREAD, CUR_DEPTH, CUR_VOL, B_SPREAD, B_DEPTH, B_W, B_VOL,
 B_VOL_W, TR_BID, TR_ASK, OWN_S, OWN_N, LAT_ACK, LAT_FILL, LAT_FEED, L2_DEPTH, E_SPREAD, E_DEPTH, E_OFI, E_FH,
 E_LAT, E_CRUMB) = range(len(FLOAT_KEYS))
(Q_T, FIRST_T, LAST_T, OFI_T, TR_T, OWN_T, LAT_ACK_T, LAT_FILL_T, LAT_FEED_T, L2_T, REG, REG_DIR, REG_PT, REG_T,
 E_T, E_REG, B_T, E_DSRC, E_LSRC) = range(len(INT_KEYS) + len(CODE_KEYS))
_EXACT_NS = 2**53  # int64 time gaps up to this convert to float64 exactly, as Python's int/int does
_UNDERFLOW = 760.0  # exp(-x) is 0.0 in float64 for every x beyond ~745.2, however x was rounded

# Emit reasons (0: no record) and the columns of the per-record outputs.
REASONS = ("", "first", "regime_change", "material_change", "heartbeat")
OUT_SPREAD, OUT_DEPTH, OUT_OFI, OUT_LATENCY, OUT_HAZARD, OUT_CRUMB, OUT_VOL, OUT_BID, OUT_ASK = range(9)
OUT_NOW, OUT_REG, OUT_DSRC, OUT_LSRC, OUT_REASON = range(5)
N_OUT_F, N_OUT_I = 9, 5
KIND_QUOTE, KIND_TRADE = 0, 1


@nb.njit(cache=True)
def _target_level(current: int, spread: float, depth: float, v: float, c: Any) -> int:
    """regime.target_level_of with the thresholds from the config record (v = 0.0 for None)."""
    if (spread >= c.stressed_enter_spread_ratio or depth <= c.stressed_enter_depth_ratio
            or v >= c.stressed_enter_vol_ratio):
        return 2
    if current == 2 and (spread >= c.stressed_exit_spread_ratio or depth <= c.stressed_exit_depth_ratio
                         or v >= c.stressed_exit_vol_ratio):
        return 2
    if (spread >= c.compressed_enter_spread_ratio or depth <= c.compressed_enter_depth_ratio
            or v >= c.compressed_enter_vol_ratio):
        return 1
    if current >= 1 and (spread >= c.compressed_exit_spread_ratio or depth <= c.compressed_exit_depth_ratio
                         or v >= c.compressed_exit_vol_ratio):
        return 1
    return 0


@nb.njit(cache=True)
def _decay(dt: int, tau: float) -> float:
    """decay_factor(dt, tau), or NaN where float64 rows could differ from Python's exact int/int
    division (gaps of 2**53 ns or more, unless the factor underflows to 0.0 either way)."""
    if dt <= 0:
        return 1.0
    x = (dt / NS) / tau
    if dt >= _EXACT_NS and x < _UNDERFLOW:
        return math.nan
    return math.exp(-x)


@nb.njit(cache=True)
def _queue_fill(rate_per_s: float, queue_ahead: float, horizon_s: float) -> float:
    """features.queue_fill_probability."""
    if rate_per_s <= 0.0:
        return 0.0
    if queue_ahead <= 0.0:
        return 1.0
    return 1.0 - math.exp(-rate_per_s * horizon_s / queue_ahead)


@nb.njit(cache=True)
def _non_finite(f: np.ndarray) -> bool:
    """layout.finite_state: any accumulator infinite (NaN is None in a float row, and allowed)."""
    for j in ACCUMULATOR_COLUMNS:  # noqa: SIM110 (a plain loop: numba compiles it, not any() over a generator)
        if math.isinf(f[j]):
            return True
    return False


@nb.njit(cache=True)
def fold_events(fl: np.ndarray, it: np.ndarray, kind: np.ndarray, sym: np.ndarray, times: np.ndarray,
                values: np.ndarray, config: np.ndarray, out_idx: np.ndarray, out_f: np.ndarray,
                out_i: np.ndarray) -> int:
    """Fold a run of quotes (kind 0: bid, bid size, ask, ask size) and trades (kind 1: price, size)
    into the rows. ``times`` holds event and ingest time (INT_NONE: none). Records that emit are
    written compactly: ``out_idx[j]`` is the record, ``out_f[j]``/``out_i[j]`` its outputs.
    Returns the number of records that emit, or -1 - i for a record i the reference must do."""
    c = config[0]
    alpha, mult, ofi_tau, vol_tau, baseline_tau = (c.latency_alpha, c.quote_size_multiplier, c.ofi_tau_s, c.vol_tau_s,
                                                   c.baseline_tau_s)
    l2_max_age_ns, warmup_ns = c.l2_max_age_ns, c.warmup_ns
    escalate_ns, relax_ns = c.escalate_dwell_ns, c.relax_dwell_ns
    min_interval_ns, heartbeat_ns, lat_max_age_ns = c.min_interval_ns, c.heartbeat_ns, c.latency_sample_max_age_ns
    tr_tau, horizon, own_tau, prior = (c.trade_rate_tau_s, c.fill_hazard_horizon_s, c.own_fill_tau_s,
                                       c.own_fill_prior_strength)
    ttl_ns = c.ttl_ns
    emitted = 0
    for i in range(kind.shape[0]):
        k = sym[i]
        f = fl[k]
        n = it[k]
        t = times[i, 0]
        ingest = times[i, 1]
        is_trade = kind[i] == 1
        if ttl_ns > 0.0 and n[LAST_T] != INT_NONE and t - n[LAST_T] > ttl_ns:
            return -1 - i  # the symbol's state outlived its TTL: the reference starts it afresh
        prev_t = n[Q_T]
        have_prev = prev_t != INT_NONE
        if not is_trade and have_prev and t < prev_t:
            return -1 - i  # an older quote than the one held: the reference refuses it (late_quote)
        if ingest != INT_NONE:  # ReferenceFold._feed_lag, for quotes and trades alike
            lag_ms = (ingest - t) / 1e6
            if not lag_ms > 0.0:
                lag_ms = 0.0
            lat = f[LAT_FEED]
            f[LAT_FEED] = lag_ms if math.isnan(lat) else lat + alpha * (lag_ms - lat)
            n[LAT_FEED_T] = t
        if is_trade:
            # ReferenceFold.on_trade, then finish.
            price, size = values[i, 0], values[i, 1]
            if not math.isnan(f[BID]) and (price <= f[BID] or price >= f[ASK]):
                d = _decay(t - n[TR_T], tr_tau)
                if math.isnan(d):
                    return -1 - i
                f[TR_BID] *= d
                f[TR_ASK] *= d
                if t > n[TR_T]:
                    n[TR_T] = t
                if price <= f[BID]:
                    f[TR_BID] += size
                else:
                    f[TR_ASK] += size
            if _non_finite(f):
                return -1 - i
            last_t = n[LAST_T]
            if last_t == INT_NONE or t > last_t:
                n[LAST_T] = t
            now = n[LAST_T]
            if n[Q_T] == INT_NONE:
                continue
            l2_t = n[L2_T]
            if l2_t != INT_NONE and now - l2_t <= l2_max_age_ns:
                depth, depth_src = f[L2_DEPTH], 0
            else:
                depth, depth_src = (f[BID] * f[BS] + f[ASK] * f[AS]) * 1.0, 1
        else:
            # ReferenceFold.on_quote (its advance included) up to the regime step.
            bid, ask = values[i, 0], values[i, 2]
            bs, as_ = values[i, 1] * mult, values[i, 3] * mult
            if have_prev:
                prev_bid, prev_ask = f[BID], f[ASK]
                d = _decay(t - n[OFI_T], ofi_tau)
                if math.isnan(d) or t - prev_t >= _EXACT_NS:
                    return -1 - i
                e = 0.0
                if bid >= prev_bid:
                    e += bs
                if bid <= prev_bid:
                    e -= f[BS]
                if ask <= prev_ask:
                    e -= as_
                if ask >= prev_ask:
                    e += f[AS]
                ofi_s = f[OFI_S] * d + e
                ofi_a = f[OFI_A] * d + abs(e)
                f[OFI_S], f[OFI_A] = ofi_s, ofi_a
                n[OFI_T] = t
                dt = t - prev_t
                r = math.log((bid + ask) / (prev_bid + prev_ask))
                dv = _decay(dt, vol_tau)
                rv_r2 = f[RV_R2] * dv + r * r
                rv_dt = f[RV_DT] * dv + dt / NS
                f[RV_R2], f[RV_DT] = rv_r2, rv_dt
            else:
                n[FIRST_T] = t
                n[OFI_T] = t
                ofi_s, ofi_a, rv_r2, rv_dt = f[OFI_S], f[OFI_A], f[RV_R2], f[RV_DT]
            f[BID], f[BS], f[ASK], f[AS] = bid, bs, ask, as_
            n[Q_T] = t

            spread = (ask - bid) / (0.5 * (bid + ask)) * 1e4
            l2_t = n[L2_T]
            if l2_t != INT_NONE and t - l2_t <= l2_max_age_ns:
                depth, depth_src = f[L2_DEPTH], 0
            else:
                depth, depth_src = bid * bs + ask * as_, 1
            vol = math.sqrt(rv_r2 / rv_dt) * 1e4 if rv_dt > 0.0 else math.nan
            b_t = n[B_T]
            if b_t != INT_NONE and t > b_t:
                db = _decay(t - b_t, baseline_tau)
                if math.isnan(db) or math.isnan(f[CUR_SPREAD]) or math.isnan(f[CUR_DEPTH]):
                    return -1 - i
                w = 1.0 - db
                b_spread = f[B_SPREAD] * db + w * f[CUR_SPREAD]
                b_depth = f[B_DEPTH] * db + w * f[CUR_DEPTH]
                f[B_SPREAD], f[B_DEPTH] = b_spread, b_depth
                f[B_W] = f[B_W] * db + w
                held_vol = f[CUR_VOL]
                if not math.isnan(held_vol):
                    b_vol = f[B_VOL] * db + w * held_vol
                    f[B_VOL] = b_vol
                    f[B_VOL_W] = f[B_VOL_W] * db + w
                else:
                    b_vol = f[B_VOL]
                n[B_T] = t
            else:
                if b_t == INT_NONE:
                    n[B_T] = t
                b_spread, b_depth, b_vol = f[B_SPREAD], f[B_DEPTH], f[B_VOL]
            f[CUR_SPREAD], f[CUR_DEPTH], f[CUR_VOL] = spread, depth, vol

            total = ofi_s + ofi_a + rv_r2 + rv_dt + spread + depth + b_spread + b_depth + b_vol
            if not math.isnan(vol):
                total += vol
            if not math.isfinite(total):
                return -1 - i

            last_t = n[LAST_T]
            if last_t == INT_NONE or t > last_t:
                n[LAST_T] = now = t
            else:
                now = last_t
                l2_t = n[L2_T]  # the reference's depth(s, now)
                if l2_t != INT_NONE and now - l2_t <= l2_max_age_ns:
                    depth, depth_src = f[L2_DEPTH], 0
                else:
                    depth, depth_src = (f[BID] * f[BS] + f[ASK] * f[AS]) * 1.0, 1

        # ReferenceFold.step_regime(s, now, depth)
        level, pending_dir = n[REG], n[REG_DIR]
        b_w = f[B_W]
        if n[FIRST_T] == INT_NONE:
            return -1 - i
        regime_changed = False
        decided = False
        if now - n[FIRST_T] < warmup_ns or b_w <= 0.0:
            if level == 0 and pending_dir == 0:
                decided = True
            target = 0
        else:
            bd = f[B_DEPTH] / b_w
            cur_vol, b_vol_w = f[CUR_VOL], f[B_VOL_W]
            bv = f[B_VOL] / b_vol_w if b_vol_w > 0.0 else 0.0
            v = cur_vol / bv if bv > 0.0 and not math.isnan(cur_vol) else 0.0
            target = _target_level(level, f[CUR_SPREAD] / (f[B_SPREAD] / b_w), depth / bd if bd > 0.0 else 1.0,
                                   v, c)
        if not decided:
            if target == level:
                if pending_dir != 0:
                    n[REG_DIR], n[REG_PT] = 0, 0
            else:
                direction = 1 if target > level else -1
                if pending_dir != direction:
                    n[REG_DIR], n[REG_PT] = direction, now
                    pending_since = now
                else:
                    pending_since = n[REG_PT]
                if now - pending_since >= (escalate_ns if direction > 0 else relax_ns):
                    n[REG], n[REG_DIR], n[REG_PT], n[REG_T] = target, 0, 0, now
                    regime_changed = True

        e_t = n[E_T]
        if not regime_changed and e_t != INT_NONE and now - e_t < min_interval_ns:
            continue

        # ReferenceFold._evaluate(...)
        ofi_abs_sum = f[OFI_A]
        if ofi_abs_sum <= 0.0:
            ofi = 0.0
        else:
            value = f[OFI_S] / ofi_abs_sum
            ofi = 1.0 if value > 1.0 else -1.0 if value < -1.0 else value
        if (not math.isnan(f[LAT_ACK]) and n[LAT_ACK_T] == INT_NONE) or (
                not math.isnan(f[LAT_FILL]) and n[LAT_FILL_T] == INT_NONE):
            return -1 - i
        if not math.isnan(f[LAT_ACK]) and now - n[LAT_ACK_T] <= lat_max_age_ns:
            latency, latency_src = f[LAT_ACK], 0
        elif not math.isnan(f[LAT_FILL]) and now - n[LAT_FILL_T] <= lat_max_age_ns:
            latency, latency_src = f[LAT_FILL], 1
        elif not math.isnan(f[LAT_FEED]):
            latency, latency_src = f[LAT_FEED], 2
        else:
            latency, latency_src = 0.0, 3
        tr_bid, tr_ask = f[TR_BID], f[TR_ASK]
        if tr_bid != 0.0 or tr_ask != 0.0:
            d = _decay(now - n[TR_T], tr_tau)
            if math.isnan(d):
                return -1 - i
            p_model = 0.5 * (_queue_fill(tr_bid * d / tr_tau, f[BS], horizon)
                             + _queue_fill(tr_ask * d / tr_tau, f[AS], horizon))
        else:
            p_model = 0.0
        if f[OWN_N] <= 0:
            hazard = p_model
        else:
            do = _decay(now - n[OWN_T], own_tau)
            if math.isnan(do):
                return -1 - i
            denominator = f[OWN_N] * do + prior
            hazard = p_model if denominator <= 0.0 else (f[OWN_S] * do + prior * p_model) / denominator
        bsz, asz = f[BS], f[AS]
        size_total = bsz + asz
        crumb = 0.5 if size_total <= 0.0 else (asz if asz > bsz else bsz) / size_total
        spread = f[CUR_SPREAD]
        if e_t == INT_NONE:
            why = 1
        elif regime_changed or n[REG] != n[E_REG]:
            why = 2
        else:
            e_depth, e_spread, e_lat = f[E_DEPTH], f[E_SPREAD], f[E_LAT]
            if (math.isnan(e_depth) or math.isnan(e_spread) or math.isnan(e_lat) or math.isnan(f[E_CRUMB])
                    or math.isnan(f[E_OFI]) or math.isnan(f[E_FH])):
                return -1 - i
            if (abs(depth - e_depth) > c.depth_rel * e_depth
                    or abs(crumb - f[E_CRUMB]) >= c.crumbling_abs
                    or abs(spread - e_spread) >= max(c.spread_bps_abs, c.spread_rel * e_spread)
                    or abs(ofi - f[E_OFI]) >= c.ofi_abs
                    or abs(hazard - f[E_FH]) >= c.fill_hazard_abs
                    or abs(latency - e_lat) >= max(c.latency_ms_abs, c.latency_rel * e_lat)
                    or depth_src != n[E_DSRC] or latency_src != n[E_LSRC]):
                why = 3
            elif now - e_t >= heartbeat_ns:
                why = 4
            else:
                continue
        n[E_T] = now
        f[E_SPREAD], f[E_DEPTH], f[E_OFI], f[E_FH], f[E_LAT], f[E_CRUMB] = spread, depth, ofi, hazard, latency, crumb
        n[E_REG], n[E_DSRC], n[E_LSRC] = n[REG], depth_src, latency_src
        out_idx[emitted] = i
        o = out_f[emitted]
        o[OUT_SPREAD], o[OUT_DEPTH], o[OUT_OFI], o[OUT_LATENCY] = spread, depth, ofi, latency
        o[OUT_HAZARD], o[OUT_CRUMB], o[OUT_VOL] = hazard, crumb, f[CUR_VOL]
        o[OUT_BID], o[OUT_ASK] = f[BID], f[ASK]
        p = out_i[emitted]
        p[OUT_NOW], p[OUT_REG], p[OUT_DSRC], p[OUT_LSRC], p[OUT_REASON] = now, n[REG], depth_src, latency_src, why
        emitted += 1
    return emitted


@nb.njit(cache=True)
def fold_one(fl: np.ndarray, it: np.ndarray, kind: int, t: int, ingest: int, v0: float, v1: float, v2: float,
             v3: float, config: np.ndarray, out_f: np.ndarray, out_i: np.ndarray) -> int:
    """``fold_events`` for a single record given as scalars (symbol row 0), so the per-record path
    sets up no arrays of its own in Python: its fixed cost is what made it slower than plain Python.
    ``fl`` and ``it`` must hold that row (returns -1, hand back, otherwise: numba does not check bounds)."""
    if fl.shape[0] < 1 or it.shape[0] < 1:
        return -1
    kinds = np.empty(1, np.int8)
    kinds[0] = kind
    times = np.empty((1, 2), np.int64)
    times[0, 0], times[0, 1] = t, ingest
    values = np.empty((1, 4), np.float64)
    values[0, 0], values[0, 1], values[0, 2], values[0, 3] = v0, v1, v2, v3
    return fold_events(fl, it, kinds, np.zeros(1, np.int64), times, values, config, np.empty(1, np.int64), out_f,
                       out_i)


def warm_up() -> None:
    """Compile (or load from numba's cache) the fold now, with the argument types the processor uses,
    so a consumer's first run does not stall for it."""
    f64, i64 = np.float64, np.int64
    fold_events(np.zeros((0, len(FLOAT_KEYS)), f64), np.zeros((0, len(INT_KEYS) + len(CODE_KEYS)), i64),
                np.zeros(0, np.int8), np.zeros(0, i64), np.zeros((0, 2), i64), np.zeros((0, 4), f64),
                fold_config(StateConfig()), np.zeros(0, i64), np.zeros((0, N_OUT_F), f64), np.zeros((0, N_OUT_I), i64))
    # fold_one always folds into row 0, so it gets a real (fresh) state row: numba does not check
    # bounds, and a zero-row array here was written past its end.
    floats, ints = to_rows([new_symbol_state()])
    fold_one(np.array(floats, f64), np.array(ints, i64), KIND_QUOTE, 1, INT_NONE, 1.0, 1.0, 1.01, 1.0,
             fold_config(StateConfig()), np.zeros((1, N_OUT_F), f64), np.zeros((1, N_OUT_I), i64))
