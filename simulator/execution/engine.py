"""Compiled loop that works one parent order on one simulated market path.

Market events (a pre-drawn Hawkes stream, see ``simulator.market.engine``) and our own actions
are merged in time order. Our actions are born at decision times from what the feed showed
``feed_latency`` ago and reach the book ``entry_latency`` later, so a child can arrive at a book
that has moved: a marketable child may partially fill, a resting child may be filled while its
cancel is in flight. Resting children sit in the FIFO queue of the book like everyone else and
fill only when the market orders reach them; the market's cancels can pull them at their queue
position (queue-reactive own orders, see ``simulator.market.engine``).

A passive parent may work with catch-up (``simulator.execution.catchup``, slots ``P_CU_*`` and
``Q_CATCHUP``): one loop for both, so the catch-up's fills are the engine's fills plus its decision,
and with it off every draw and action is the plain passive parent's. Its spread gate (``P_CU_GATE*``,
``Q_CU_GATE``) keeps a reference spread per feed entry (``h_ref``) only when it is on, and only holds
a cross back: with it off the loop is the ungated catch-up's, draw for draw.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

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
from simulator.execution.catchup import (
    catchup_quantity,
    excess_working,
    reference_spread,
    spread_gate_open,
    tapered_tolerance,
    tolerance_shares,
)
from simulator.execution.reaction import ReactionTables, spawn_reaction
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
from simulator.market.model import Tables

# Float policy slots (pol_f).
P_QTY = 0
P_T0 = 1
P_HORIZON = 2
P_CAP = 3
P_OFFSET_TICKS = 4
P_DECISION_DT = 5
P_FEED_LAT = 6
P_ENTRY_LAT = 7
P_CU_TOL = 8  # catch-up tolerance (fraction of the parent; inf = final window only)
P_CU_FINAL = 9  # catch-up final window (fraction of the horizon)
P_CU_OFF = 10  # catch-up cross's marketable tolerance, ticks beyond the far touch
P_CU_GATE = 11  # spread gate: a cross waits while the seen spread > this x the reference spread
P_CU_GATE_END = 12  # spread gate: from this fraction of the horizon on the gate is open
P_CU_GATE_MEM = 13  # spread gate: the reference spread's time constant, seconds of event time
P_CU_TOL_END = 14  # catch-up tolerance at the end of the horizon (linear taper; == P_CU_TOL when flat)
P_F_SIZE = 15
# Int policy slots (pol_i).
Q_SIDE = 0  # 0 buy, 1 sell
Q_REPRICE = 1
Q_FINISH = 2
Q_CATCHUP = 3  # 1: a passive tier works with catch-up (P_CU_*)
Q_CU_GATE = 4  # 1: the catch-up's cross is spread-gated (P_CU_GATE*)
Q_I_SIZE = 5
# Outputs (out).
O_FILLED = 0
O_NOTIONAL = 1  # ticks * shares
O_ARRIVAL_MID = 2  # ticks
O_CHILDREN = 3
O_MKT_VOLUME = 4  # others' market-order volume during the horizon
O_N_REC = 5
O_N_FILLS = 6
O_END_MID = 7
O_REACTIONS = 8  # market events that were the market's reaction to our fills
O_REACT_DROPPED = 9
O_SIZE = 10

# Record kinds for our own actions (market events use their Hawkes dimension 0..9).
R_POST = 100
R_CANCEL = 101
R_IOC = 102
R_FILL = 103
R_PULLED = 104  # a resting child removed by the market's cancel flow (queue-reactive own orders)

A_POST = 0
A_CANCEL = 1
A_IOC = 2
A_CATCHUP = 3  # a catch-up IOC; its pending-action oid slot carries the target it may not pass
MAX_WORKING = 32  # resting children at once (each decision may add one); more are not sent
MAX_PENDING = 256
HIST = 8192


@hot
def _rec(n: int, t: float, kind: int, price: int, qty: int, b: BookState, rec_t: NDArray[np.float64],
         rec_i: NDArray[np.int64]) -> int:
    if n < rec_t.shape[0]:
        rec_t[n] = t
        rec_i[n, 0] = kind
        rec_i[n, 1] = price
        rec_i[n, 2] = qty
        rec_i[n, 3] = best_bid(b)
        rec_i[n, 4] = best_ask(b)
    return n + 1


@hot
def _push(pa_t: NDArray[np.float64], pa_kind: NDArray[np.int64], pa_oid: NDArray[np.int64],
          pa_px: NDArray[np.int64], pa_q: NDArray[np.int64], tail: int, t: float, kind: int, oid: int, px: int,
          q: int) -> int:
    """Queue one of our actions (it reaches the book at ``t``) in the pending ring; the new tail.
    Callers check the ring has room (their conditions differ)."""
    k = tail % MAX_PENDING
    pa_t[k] = t
    pa_kind[k] = kind
    pa_oid[k] = oid
    pa_px[k] = px
    pa_q[k] = q
    return tail + 1


@hot
def run_parent(b: BookState, times: NDArray[np.float64], dims: NDArray[np.int64], rng: np.random.Generator,
               tb: Tables, pol_f: NDArray[np.float64],
               pol_i: NDArray[np.int64], sched_frac: NDArray[np.float64], sched_pace: NDArray[np.float64],
               sched_cross: NDArray[np.int64], stats: NDArray[np.int64], rec_t: NDArray[np.float64],
               rec_i: NDArray[np.int64], fills: NDArray[np.float64], out: NDArray[np.float64],
               rt: ReactionTables, ex_t: NDArray[np.float64], ex_d: NDArray[np.int64],
               h_t: NDArray[np.float64], h_bid: NDArray[np.int64], h_ask: NDArray[np.int64],
               h_vol: NDArray[np.int64], wk_oid: NDArray[np.int64], wk_rem: NDArray[np.int64],
               wk_px: NDArray[np.int64], pa_t: NDArray[np.float64], pa_kind: NDArray[np.int64],
               pa_px: NDArray[np.int64], pa_q: NDArray[np.int64], pa_oid: NDArray[np.int64],
               wk_t: NDArray[np.float64], h_ref: NDArray[np.float64]) -> None:
    """Run market events and the parent's actions to the end of ``times``; results go to ``out``,
    child fills to ``fills`` (time, price tick, shares) and the full stream to ``rec_*``. Our
    aggressive fills seed reaction events (``simulator.execution.reaction``) into ``ex_*``, merged
    with ``times`` in time order (none when the model's ``own_impact`` is 0). ``h_*`` (HIST),
    ``wk_*`` (MAX_WORKING; ``wk_t`` the time each resting child reached the book, -inf once the
    catch-up sent its cancel), ``pa_*`` (MAX_PENDING) and ``h_ref`` (HIST, the spread gate's reference
    spread as of each feed entry) are scratch.

    Why compiled without numba's runtime (``hot``) and with :func:`apply_event_inlined`: the market
    event is applied inside this loop rather than by a call, because a call that passes the book
    (fifteen arrays, as separate arguments) cost ~35 ns per event, a quarter of the loop; inlined
    into a function with the runtime on, every array access of the book would be refcounted
    instead (measured: twice as slow). Without the runtime this loop cannot allocate, hence the
    scratch arrays from :func:`run_path` and the NRT-free reaction draws."""
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
    cu_on = pol_i[Q_CATCHUP] == 1
    cu_tol = pol_f[P_CU_TOL]
    cu_final = pol_f[P_CU_FINAL]
    cu_tol_end = pol_f[P_CU_TOL_END]
    cu_off = round(pol_f[P_CU_OFF])
    cu_pending = 0  # catch-up shares on their way to the book
    gate_on = cu_on and pol_i[Q_CU_GATE] == 1
    gate_k = pol_f[P_CU_GATE]
    gate_end = pol_f[P_CU_GATE_END]
    gate_mem = pol_f[P_CU_GATE_MEM]

    # What the feed has shown: ring of (time, bid, ask, cumulative others' market volume).
    h_n = 0
    h_t[0] = 0.0
    h_bid[0] = best_bid(b)
    h_ask[0] = best_ask(b)
    h_vol[0] = stats[S_MARKET_VOLUME]
    h_ref[0] = float(h_ask[0] - h_bid[0])
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
                    q = min(q, pa_oid[k] - filled - working - in_flight)  # nor pass the schedule
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
                        tol = tolerance_shares(tapered_tolerance(cu_tol, cu_tol_end, frac_t), cu_final, qty_total,
                                               frac_t)
                        cross = catchup_quantity(target, filled, cu_pending, tol)
                        if cross > 0 and gate_on and not spread_gate_open(
                                float(oask - obid), h_ref[j % HIST], gate_k, gate_end, frac_t):
                            cross = 0  # the spread is abnormally wide: wait for it to narrow
                    if cross > 0 and pa_tail - pa_head < MAX_PENDING - MAX_WORKING - 1:
                        # Catch-up: cancel the youngest resting children until the cross cannot put
                        # the parent ahead of its schedule, then cross the deficit.
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
            if gate_on:
                hp = (h_n - 1) % HIST  # the spread seen until now held since the previous entry
                h_ref[hk] = reference_spread(h_ref[hp], float(h_ask[hp] - h_bid[hp]), t_ev - h_t[hp], gate_mem)
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


@nb.njit(cache=True, nogil=True)  # Monte Carlo runs paths on several threads
def run_path(b: BookState, base_tick: int, ref_tick: int, spread: int, levels: int, per_level: int,
             times: NDArray[np.float64], dims: NDArray[np.int64], rng: np.random.Generator, tb: Tables,
             pol_f: NDArray[np.float64], pol_i: NDArray[np.int64], sched_frac: NDArray[np.float64],
             sched_pace: NDArray[np.float64], sched_cross: NDArray[np.int64], stats: NDArray[np.int64],
             rec_t: NDArray[np.float64], rec_i: NDArray[np.int64], fills: NDArray[np.float64],
             out: NDArray[np.float64], rt: ReactionTables, ex_t: NDArray[np.float64],
             ex_d: NDArray[np.int64]) -> None:
    """Reset the book, seed it and run the parent: one call from Python per path, because
    unboxing the book's arrays costs tens of microseconds per call and a Monte Carlo path of a
    quiet stock is only a few hundred microseconds of work."""
    reset_book(b, base_tick)
    init_book(b, ref_tick, spread, levels, per_level, tb, rng)
    out[O_REACT_DROPPED] = 0.0
    run_parent(b, times, dims, rng, tb, pol_f, pol_i, sched_frac, sched_pace, sched_cross, stats, rec_t,
               rec_i, fills, out, rt, ex_t, ex_d,
               np.empty(HIST), np.empty(HIST, np.int64), np.empty(HIST, np.int64), np.empty(HIST, np.int64),
               np.empty(MAX_WORKING, np.int64), np.empty(MAX_WORKING, np.int64), np.empty(MAX_WORKING, np.int64),
               np.empty(MAX_PENDING), np.empty(MAX_PENDING, np.int64), np.empty(MAX_PENDING, np.int64),
               np.empty(MAX_PENDING, np.int64), np.empty(MAX_PENDING, np.int64), np.empty(MAX_WORKING),
               np.empty(HIST))
