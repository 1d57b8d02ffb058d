"""The execution loop of an advised arm that works passively with catch-up (producers/paper/catchup.py).

Why a second loop beside ``simulator.execution.engine.run_parent``: the catch-up needs a decision the
engine does not have (cross the deficit against the advised schedule, cancelling the youngest resting
children first), and simulator/ is another line of work this session. This loop is the engine's with
that decision added, the same book, market and reaction functions imported from simulator/, and the
same draws: with catch-up disabled it gives the engine's fills exactly (tests/unit/test_catchup.py),
which is what keeps the two from drifting silently. Folding it into the engine as a policy slot is the
natural next step once the engine is free.

The numba cache of this file inlines the simulator's book; ``_fresh_cache`` drops it when any of the
sources the simulator's own cache guard watches, or catchup.py, changes (numba keys a cache on its own
file only).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba as nb
import numpy as np
from numpy.typing import NDArray

from producers.paper.catchup import CatchUp, catchup_quantity, excess_working, tolerance_shares
from simulator.book import _cache_guard
from simulator.book.core import (
    ASK,
    BID,
    M_NFILLS,
    M_NOTIONAL,
    BookState,
    add_limit,
    best_ask,
    best_bid,
    cancel,
    execute_market,
    hot,
    reset_book,
)
from simulator.execution.engine import (
    A_CANCEL,
    A_IOC,
    A_POST,
    HIST,
    MAX_PENDING,
    MAX_WORKING,
    O_ARRIVAL_MID,
    O_CHILDREN,
    O_END_MID,
    O_FILLED,
    O_MKT_VOLUME,
    O_N_FILLS,
    O_N_REC,
    O_NOTIONAL,
    O_REACT_DROPPED,
    O_REACTIONS,
    P_CAP,
    P_DECISION_DT,
    P_ENTRY_LAT,
    P_FEED_LAT,
    P_HORIZON,
    P_OFFSET_TICKS,
    P_QTY,
    P_T0,
    Q_FINISH,
    Q_REPRICE,
    Q_SIDE,
    R_CANCEL,
    R_FILL,
    R_IOC,
    R_POST,
    R_PULLED,
    _push,
    _rec,
)
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.reaction import REACTION_CAP, ReactionTables, spawn_reaction
from simulator.execution.run import PathRunner
from simulator.market.cancels import market_touch
from simulator.market.engine import (
    INF_TICK,
    OWN_MARKET_VIEW,
    S_MARKET_VOLUME,
    S_PULLED,
    apply_event_inlined,
    ensure_sides,
    init_book,
)
from simulator.market.flow import draw_flow_arrays
from simulator.market.model import MarketModel, Tables

A_CATCHUP = 3  # a catch-up IOC; its pending-action oid slot carries the advised target it may not pass


def _fresh_cache() -> None:
    root = Path(_cache_guard.__file__).resolve().parents[1]
    h = hashlib.sha256(Path(__file__).read_bytes() + (Path(__file__).parent / "catchup.py").read_bytes())
    for rel in _cache_guard._SOURCES:
        p = root / rel
        h.update(rel.encode() + (p.read_bytes() if p.exists() else b"<missing>"))
    stamp = Path(__file__).parent / "__pycache__" / "catchup_engine.deps.sha256"
    try:
        if stamp.exists() and stamp.read_text().strip() == h.hexdigest():
            return
        for f in stamp.parent.glob("catchup_engine*.nbi"):
            f.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(h.hexdigest() + "\n")
        tmp.replace(stamp)
    except OSError:
        return


_fresh_cache()


@hot
def run_parent_catchup(b: BookState, times: NDArray[np.float64], dims: NDArray[np.int64], rng: np.random.Generator,
               tb: Tables, pol_f: NDArray[np.float64],
               pol_i: NDArray[np.int64], sched_frac: NDArray[np.float64], sched_pace: NDArray[np.float64],
               sched_cross: NDArray[np.int64], stats: NDArray[np.int64], rec_t: NDArray[np.float64],
               rec_i: NDArray[np.int64], fills: NDArray[np.float64], out: NDArray[np.float64],
               rt: ReactionTables, ex_t: NDArray[np.float64], ex_d: NDArray[np.int64],
               h_t: NDArray[np.float64], h_bid: NDArray[np.int64], h_ask: NDArray[np.int64],
               h_vol: NDArray[np.int64], wk_oid: NDArray[np.int64], wk_rem: NDArray[np.int64],
               wk_px: NDArray[np.int64], pa_t: NDArray[np.float64], pa_kind: NDArray[np.int64],
               pa_px: NDArray[np.int64], pa_q: NDArray[np.int64], pa_oid: NDArray[np.int64],
               cu_f: NDArray[np.float64], wk_t: NDArray[np.float64]) -> None:
    """``simulator.execution.engine.run_parent`` with the catch-up of a passive arm (module
    docstring); ``cu_f`` holds (enabled, tolerance, final, marketable tolerance in ticks) and
    ``wk_t`` (MAX_WORKING) the time each resting child reached the book. Disabled, every draw and
    action is the engine's (tested: identical fills on the same path)."""
    qty_total = pol_f[P_QTY]
    t0 = pol_f[P_T0]
    horizon = pol_f[P_HORIZON]
    cap = pol_f[P_CAP]
    off = round(pol_f[P_OFFSET_TICKS])
    dec_dt = pol_f[P_DECISION_DT]
    feed_lat = pol_f[P_FEED_LAT]
    entry_lat = pol_f[P_ENTRY_LAT]
    side = pol_i[Q_SIDE]
    reprice = pol_i[Q_REPRICE]
    finish = pol_i[Q_FINISH]
    t_end = t0 + horizon
    cu_on = cu_f[0] > 0.0
    cu_tol = cu_f[1]
    cu_final = cu_f[2]
    cu_off = round(cu_f[3])
    cu_pending = 0  # catch-up shares on their way to the book

    # What the feed has shown: ring of (time, bid, ask, cumulative others' market volume).
    h_n = 0
    h_t[0] = 0.0
    h_bid[0] = best_bid(b)
    h_ask[0] = best_ask(b)
    h_vol[0] = stats[S_MARKET_VOLUME]
    h_n = 1

    for w in range(MAX_WORKING):
        wk_oid[w] = -1
        wk_rem[w] = 0
        wk_px[w] = 0
        wk_t[w] = 0.0
    # Pending actions, FIFO (constant entry latency keeps them in time order).
    pa_head = 0
    pa_tail = 0

    filled = 0
    notional = 0
    children = 0
    n_rec = 0
    n_fill = 0
    vol_start = -1
    mkt_vol_t0 = 0
    next_dec = t0
    done_deciding = False
    ev = 0
    n_ev = times.shape[0]
    in_flight = 0  # shares in posts not yet at the book
    ex_head = 0
    ex_n = 0
    n_react = 0
    react_limit = t_end + entry_lat + 1e-6

    while True:
        t_main = times[ev] if ev < n_ev else np.inf
        t_ex = ex_t[ex_head] if ex_head < ex_n else np.inf
        t_ev = min(t_main, t_ex)
        t_act = pa_t[pa_head % MAX_PENDING] if pa_head < pa_tail else np.inf
        t_dec = next_dec if not done_deciding else np.inf
        if t_ev == np.inf and t_act == np.inf and t_dec == np.inf:
            break
        if t_act <= t_ev and t_act <= t_dec:
            # One of our actions reaches the book.
            k = pa_head % MAX_PENDING
            pa_head += 1
            kind = pa_kind[k]
            if kind == A_CANCEL:
                for w in range(MAX_WORKING):
                    if wk_oid[w] == pa_oid[k] and wk_rem[w] > 0:
                        cancel(b, wk_oid[w])
                        n_rec = _rec(n_rec, t_act, R_CANCEL, wk_px[w], wk_rem[w], b, rec_t, rec_i)
                        wk_oid[w] = -1
                        wk_rem[w] = 0
                        break
            else:
                q = pa_q[k]
                px = pa_px[k]
                if kind == A_POST:
                    in_flight -= q
                working = 0
                for w in range(MAX_WORKING):
                    working += wk_rem[w]
                q = min(q, int(qty_total) - filled - working - in_flight)  # never over-fill the parent
                if kind == A_CATCHUP:
                    cu_pending -= pa_q[k]
                    q = min(q, pa_oid[k] - filled - working - in_flight)  # nor pass the advised schedule
                    kind = A_IOC
                if q > 0:
                    children += 1
                    aggressor = BID if side == 0 else ASK
                    crosses = (side == 0 and px >= best_ask(b)) or (side == 1 and px <= best_bid(b))
                    if kind == A_IOC or crosses:
                        got = execute_market(b, aggressor, q, px)
                        n_rec = _rec(n_rec, t_act, R_IOC, px, got, b, rec_t, rec_i)
                        if got > 0:
                            filled += got
                            notional += b.meta[M_NOTIONAL]
                            if n_fill < fills.shape[0]:
                                fills[n_fill, 0] = t_act
                                fills[n_fill, 1] = b.meta[M_NOTIONAL] / got
                                fills[n_fill, 2] = got
                            n_fill += 1
                            if rt.mult[aggressor] > 0.0:  # MARKET_BUY == BID == 0, MARKET_SELL == ASK == 1
                                ex_head, ex_n, lost = spawn_reaction(t_act, aggressor, float(got), rt, react_limit,
                                                                     rng, ex_t, ex_d, ex_head, ex_n)
                                out[O_REACT_DROPPED] += lost
                        q -= got
                    if kind == A_POST and q > 0:
                        slot = -1
                        for w in range(MAX_WORKING):
                            if wk_rem[w] == 0:
                                slot = w
                                break
                        # With every working slot taken the child is not sent: an untracked
                        # resting order could never be cancelled and could over-fill the parent.
                        oid = add_limit(b, side, px, q, 1) if slot >= 0 else -1
                        n_rec = _rec(n_rec, t_act, R_POST, px, q if oid >= 0 else 0, b, rec_t, rec_i)
                        if oid >= 0:
                            wk_oid[slot] = oid
                            wk_rem[slot] = q
                            wk_px[slot] = px
                            wk_t[slot] = t_act
            ensure_sides(b, tb, rng, stats)  # a marketable child may have swept a side bare
        elif t_dec <= t_ev:
            # A decision, on the book as the feed showed it feed_lat ago.
            t = t_dec
            j = h_n - 1
            lo = max(0, h_n - HIST)
            while j > lo and h_t[j % HIST] > t - feed_lat:
                j -= 1
            obid = h_bid[j % HIST]
            oask = h_ask[j % HIST]
            ovol = h_vol[j % HIST]
            if vol_start < 0:
                vol_start = ovol
                mkt_vol_t0 = stats[S_MARKET_VOLUME]
                out[O_ARRIVAL_MID] = 0.5 * (obid + oask)  # Torghut: the price the decision saw
            working = 0
            for w in range(MAX_WORKING):
                working += wk_rem[w]
            if t >= t_end - 1e-12:
                done_deciding = True
                for w in range(MAX_WORKING):
                    if wk_rem[w] > 0 and pa_tail - pa_head < MAX_PENDING:
                        pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_CANCEL,
                                        wk_oid[w], 0, 0)
                if finish == 1 and pa_tail - pa_head < MAX_PENDING:
                    # Sweep whatever the cancels leave (sized at arrival, so fills meanwhile count).
                    pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_IOC, -1,
                                    INF_TICK if side == 0 else -INF_TICK, int(qty_total))
            else:
                # Target filled fraction from the urgency schedule (piecewise pace).
                frac_t = (t - t0) / horizon
                cum = 0.0
                tier = 0
                for s in range(sched_frac.shape[0]):
                    a = sched_frac[s]
                    z = sched_frac[s + 1] if s + 1 < sched_frac.shape[0] else 1.0
                    if frac_t > a:
                        cum += sched_pace[s] * (min(frac_t, z) - a)
                        tier = s
                target = min(qty_total, qty_total * cum)
                if dec_dt > 0:  # look one interval ahead so the last slice is not left behind
                    target = min(qty_total, target + qty_total * sched_pace[tier] * dec_dt / horizon)
                if cap > 0:
                    target = min(target, cap * (ovol - vol_start))
                need = int(target) - filled - working - in_flight
                if sched_cross[tier] == 1:
                    if need > 0 and pa_tail - pa_head < MAX_PENDING:
                        pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_IOC, -1,
                                        oask + off if side == 0 else obid - off, need)
                else:
                    want = min(obid - off, oask - 1) if side == 0 else max(oask + off, obid + 1)
                    cross = 0
                    if cu_on:
                        tol = tolerance_shares(cu_tol, cu_final, qty_total, frac_t)
                        cross = catchup_quantity(target, filled, cu_pending, tol)
                    if cross > 0 and pa_tail - pa_head < MAX_PENDING - MAX_WORKING - 1:
                        # Cancel the youngest resting children until the cross cannot put the arm
                        # ahead of its schedule, then cross the deficit at the baseline's price.
                        drop = excess_working(target, filled, working, in_flight, cross)
                        while drop > 0:
                            young = -1
                            for w in range(MAX_WORKING):
                                if wk_rem[w] > 0 and wk_t[w] > -np.inf and (young < 0 or wk_t[w] > wk_t[young]):
                                    young = w
                            if young < 0:
                                break
                            pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_CANCEL,
                                            wk_oid[young], 0, 0)
                            drop -= wk_rem[young]
                            working -= wk_rem[young]
                            wk_t[young] = -np.inf  # its cancel is in flight: not picked or repriced again
                        pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_CATCHUP,
                                        int(target), oask + cu_off if side == 0 else obid - cu_off, cross)
                        cu_pending += cross
                        need = int(target) - filled - working - in_flight - cross
                    if reprice > 0:
                        for w in range(MAX_WORKING):
                            if wk_rem[w] > 0 and wk_t[w] > -np.inf and abs(wk_px[w] - want) >= reprice and \
                                    pa_tail - pa_head < MAX_PENDING:
                                pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_CANCEL,
                                        wk_oid[w], 0, 0)
                                need += wk_rem[w]
                    if need > 0 and pa_tail - pa_head < MAX_PENDING:
                        pa_tail = _push(pa_t, pa_kind, pa_oid, pa_px, pa_q, pa_tail, t + entry_lat, A_POST, -1,
                                        want, need)
                        in_flight += need
                next_dec = t + dec_dt
                if next_dec > t_end:
                    next_dec = t_end
        else:
            # A market-model event (the drawn flow, or the market's reaction to our fills).
            if t_ex < t_main:
                k = ex_d[ex_head]
                ex_head += 1
                n_react += 1
            else:
                k = dims[ev]
                ev += 1
            price, q = apply_event_inlined(b, k, rng, tb, stats)
            n_rec = _rec(n_rec, t_ev, k, price, q, b, rec_t, rec_i)
            hk = h_n % HIST
            h_t[hk] = t_ev
            if tb.cfg[2] == OWN_MARKET_VIEW:
                # The policy quotes against the others' touch: it knows its own orders, and a rule
                # that follows the displayed touch would follow (and prop up) itself.
                h_bid[hk] = market_touch(b, BID)
                h_ask[hk] = market_touch(b, ASK)
            else:
                h_bid[hk] = best_bid(b)
                h_ask[hk] = best_ask(b)
            h_vol[hk] = stats[S_MARKET_VOLUME]
            h_n += 1
            if stats[S_PULLED] > 0:
                # The market's cancel reached one of our children: it leaves the book unfilled and
                # its quantity is worked again at the next decision (at the back of a queue).
                pulled = stats[S_PULLED] - 1
                stats[S_PULLED] = 0
                for w in range(MAX_WORKING):
                    if wk_oid[w] == pulled and wk_rem[w] > 0:
                        n_rec = _rec(n_rec, t_ev, R_PULLED, wk_px[w], wk_rem[w], b, rec_t, rec_i)
                        wk_oid[w] = -1
                        wk_rem[w] = 0
                        break
            nf = b.meta[M_NFILLS]
            for f in range(nf):
                oid = b.fills[f, 0]
                fpx = b.fills[f, 1]
                fq = b.fills[f, 2]
                for w in range(MAX_WORKING):
                    if wk_oid[w] == oid and wk_rem[w] > 0:
                        wk_rem[w] -= fq
                        if wk_rem[w] == 0:
                            wk_oid[w] = -1
                        break
                filled += fq
                notional += fq * fpx
                n_rec = _rec(n_rec, t_ev, R_FILL, fpx, fq, b, rec_t, rec_i)
                if n_fill < fills.shape[0]:
                    fills[n_fill, 0] = t_ev
                    fills[n_fill, 1] = fpx
                    fills[n_fill, 2] = fq
                n_fill += 1
            b.meta[M_NFILLS] = 0
    out[O_FILLED] = filled
    out[O_NOTIONAL] = notional
    out[O_CHILDREN] = children
    out[O_MKT_VOLUME] = stats[S_MARKET_VOLUME] - mkt_vol_t0
    out[O_N_REC] = n_rec
    out[O_N_FILLS] = n_fill
    out[O_END_MID] = 0.5 * (best_bid(b) + best_ask(b))
    out[O_REACTIONS] = n_react


@nb.njit(cache=True, nogil=True)
def run_path_catchup(b: BookState, base_tick: int, ref_tick: int, spread: int, levels: int, per_level: int,
                     times: NDArray[np.float64], dims: NDArray[np.int64], rng: np.random.Generator, tb: Tables,
                     pol_f: NDArray[np.float64], pol_i: NDArray[np.int64], sched_frac: NDArray[np.float64],
                     sched_pace: NDArray[np.float64], sched_cross: NDArray[np.int64], stats: NDArray[np.int64],
                     rec_t: NDArray[np.float64], rec_i: NDArray[np.int64], fills: NDArray[np.float64],
                     out: NDArray[np.float64], rt: ReactionTables, ex_t: NDArray[np.float64],
                     ex_d: NDArray[np.int64], cu_f: NDArray[np.float64]) -> None:
    """``simulator.execution.engine.run_path`` for :func:`run_parent_catchup`."""
    reset_book(b, base_tick)
    init_book(b, ref_tick, spread, levels, per_level, tb, rng)
    out[O_REACT_DROPPED] = 0.0
    run_parent_catchup(b, times, dims, rng, tb, pol_f, pol_i, sched_frac, sched_pace, sched_cross, stats, rec_t,
                       rec_i, fills, out, rt, ex_t, ex_d,
                       np.empty(HIST), np.empty(HIST, np.int64), np.empty(HIST, np.int64), np.empty(HIST, np.int64),
                       np.empty(MAX_WORKING, np.int64), np.empty(MAX_WORKING, np.int64),
                       np.empty(MAX_WORKING, np.int64), np.empty(MAX_PENDING), np.empty(MAX_PENDING, np.int64),
                       np.empty(MAX_PENDING, np.int64), np.empty(MAX_PENDING, np.int64),
                       np.empty(MAX_PENDING, np.int64), cu_f, np.empty(MAX_WORKING))


class CatchUpRunner(PathRunner):
    """A :class:`PathRunner` whose passive arm catches up with its advised schedule (``catch_up``);
    ``marketable_offset_bps`` is the baseline's marketable tolerance, the catch-up's price. Same
    buffers, seeds and result as the engine's runner; only the loop differs."""

    def __init__(self, model: MarketModel, order: ParentOrder, policy: ExecutionPolicy, catch_up: CatchUp,
                 marketable_offset_bps: float, warmup_s: float = 60.0) -> None:
        if policy.order_type != "passive":
            raise ValueError("catch-up is the rule of a passive arm; a marketable arm crosses already")
        super().__init__(model, order, policy, warmup_s)
        ticks = marketable_offset_bps * 1e-4 * model.ref_price / model.tick_size
        self.cu_f = np.array([1.0 if catch_up.active else 0.0, catch_up.tolerance, catch_up.final, ticks])

    def run_raw(self, ss: np.random.SeedSequence,
                flow: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None,
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """``PathRunner.run_raw`` (same seeds, buffers and checks) with :func:`run_path_catchup`."""
        m = self.model
        flow_ss, book_ss = ss.spawn(2)
        if flow is None:
            times, dims = draw_flow_arrays(m, self.t_total, np.random.Generator(np.random.PCG64(flow_ss)))
        else:
            times = np.ascontiguousarray(flow[0], dtype=np.float64)
            dims = np.ascontiguousarray(flow[1], dtype=np.int64)
        rng = np.random.Generator(np.random.PCG64(book_ss))
        b = self.book
        # The engine's sizing plus one cancel and one catch-up per decision.
        need = len(times) + 6 * (int(self.order.horizon_s / self.policy.decision_interval_s) + 8) + 64 + REACTION_CAP
        if self.rec_t.shape[0] < need:
            self.rec_t = np.zeros(2 * need)
            self.rec_i = np.zeros((2 * need, 5), np.int64)
        self.stats[:] = 0
        fr, pace, cross = self.sched
        run_path_catchup(b, m.ref_tick - b.lvl_head.shape[1] // 2, m.ref_tick, m.init_spread_ticks, m.init_levels,
                         m.init_orders_per_level, times, dims, rng, m.tables, self.pol_f, self.pol_i, fr, pace,
                         cross, self.stats, self.rec_t, self.rec_i, self.fills, self.out, self.reaction, self.ex_t,
                         self.ex_d, self.cu_f)
        out = self.out
        n_rec = int(out[O_N_REC])
        n_fill = int(out[O_N_FILLS])
        if n_rec > self.rec_t.shape[0] or n_fill > self.fills.shape[0]:
            raise RuntimeError("record buffers overflowed; this is a bug in buffer sizing")
        return out, self.rec_t[:n_rec], self.rec_i[:n_rec]
