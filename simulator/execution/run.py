"""Python entry point: work one parent order on one seeded market path."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.book.core import new_book
from simulator.execution.catchup import CatchUp
from simulator.execution.engine import (
    O_ARRIVAL_MID,
    O_CHILDREN,
    O_END_MID,
    O_FILLED,
    O_MKT_VOLUME,
    O_N_FILLS,
    O_N_REC,
    O_NOTIONAL,
    O_SIZE,
    P_CAP,
    P_CU_FINAL,
    P_CU_GATE,
    P_CU_GATE_END,
    P_CU_GATE_MEM,
    P_CU_OFF,
    P_CU_TOL,
    P_CU_TOL_END,
    P_DECISION_DT,
    P_ENTRY_LAT,
    P_F_SIZE,
    P_FEED_LAT,
    P_HORIZON,
    P_OFFSET_TICKS,
    P_QTY,
    P_T0,
    Q_CATCHUP,
    Q_CU_GATE,
    Q_FINISH,
    Q_I_SIZE,
    Q_REPRICE,
    Q_SIDE,
    run_path,
)
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.reaction import REACTION_CAP, reaction_tables
from simulator.execution.tca import shortfall_notional, slippage_bps
from simulator.market.engine import S_SIZE
from simulator.market.flow import draw_flow_arrays
from simulator.market.model import MarketModel


@dataclass(frozen=True)
class ExecutionResult:
    """One path's outcome, in currency (prices) and Torghut's bps convention."""

    fills: NDArray[np.float64]  # (n, 3): time since parent start (s), price, shares
    filled_qty: int
    fill_ratio: float
    avg_fill_price: float  # nan when nothing filled
    arrival_mid: float
    end_mid: float
    shortfall_bps: float  # nan when nothing filled
    shortfall_notional: float
    child_orders: int
    market_volume: int  # others' market-order shares during the parent's life


class PathRunner:
    """Reusable buffers for many paths of one (model, order, policy): Monte Carlo calls this in a loop.

    Why a class: a path of a five-minute order is a few thousand events, so allocating a book and
    record buffers per path would cost more than simulating it; the book is reset in place.

    ``catch_up`` (a passive ``policy`` only): the parent crosses its deficit against its own schedule
    beyond the tolerance (``simulator.execution.catchup``), ``catch_up_offset_bps`` beyond the far
    touch. None, or a rule that can never cross, is the plain policy.
    """

    def __init__(self, model: MarketModel, order: ParentOrder, policy: ExecutionPolicy,
                 warmup_s: float = 60.0, window: int = 1024, capacity: int = 1 << 13, *,
                 catch_up: CatchUp | None = None, catch_up_offset_bps: float = 0.0) -> None:
        if warmup_s < 0:
            raise ValueError("warmup_s must be >= 0")
        if catch_up is not None and policy.order_type != "passive":
            raise ValueError("catch-up is the rule of a passive parent; a marketable one crosses already")
        self.model, self.order, self.policy, self.warmup_s = model, order, policy, float(warmup_s)
        self.book = new_book(model.ref_tick - window // 2, window=window, capacity=capacity)
        mid = model.ref_price
        self.offset_ticks = policy.quote_offset_bps * 1e-4 * mid / model.tick_size
        pol_f = np.zeros(P_F_SIZE)
        pol_f[P_QTY] = order.quantity
        pol_f[P_T0] = self.warmup_s
        pol_f[P_HORIZON] = order.horizon_s
        pol_f[P_CAP] = policy.participation_cap
        pol_f[P_OFFSET_TICKS] = self.offset_ticks
        pol_f[P_DECISION_DT] = policy.decision_interval_s
        pol_f[P_FEED_LAT] = policy.feed_latency_s
        pol_f[P_ENTRY_LAT] = policy.order_entry_latency_s
        self.catch_up_on = catch_up is not None and catch_up.active
        if catch_up is not None:
            pol_f[P_CU_TOL] = catch_up.tolerance
            pol_f[P_CU_FINAL] = catch_up.final
            pol_f[P_CU_TOL_END] = catch_up.tolerance_at_end
            pol_f[P_CU_OFF] = catch_up_offset_bps * 1e-4 * mid / model.tick_size
            pol_f[P_CU_GATE] = catch_up.spread_gate
            pol_f[P_CU_GATE_END] = catch_up.gate_deadline
            pol_f[P_CU_GATE_MEM] = catch_up.gate_memory_s
        pol_i = np.zeros(Q_I_SIZE, np.int64)
        pol_i[Q_SIDE] = 0 if order.side == "buy" else 1
        pol_i[Q_REPRICE] = policy.reprice_ticks
        pol_i[Q_FINISH] = int(policy.finish_marketable)
        pol_i[Q_CATCHUP] = int(self.catch_up_on)
        pol_i[Q_CU_GATE] = int(self.catch_up_on and catch_up is not None and catch_up.gated)
        self.pol_f, self.pol_i = pol_f, pol_i
        self.sched = policy.schedule_arrays()
        # Events up to the last action's arrival; a little slack so in-flight cancels land.
        self.t_total = self.warmup_s + order.horizon_s + policy.order_entry_latency_s + 1e-6
        self.fills = np.zeros((4096, 3))
        self.stats = np.zeros(S_SIZE, np.int64)
        self.out = np.zeros(O_SIZE)
        self.rec_t = np.zeros(0)
        self.rec_i = np.zeros((0, 5), np.int64)
        self.reaction = reaction_tables(model)
        self.ex_t = np.zeros(REACTION_CAP)
        self.ex_d = np.zeros(REACTION_CAP, np.int64)

    def run(self, ss: np.random.SeedSequence,
            flow: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None,
            ) -> tuple[ExecutionResult, NDArray[np.float64], NDArray[np.int64]]:
        """One path from ``ss``; returns the result and the path's full record stream.

        ``flow`` replays a given (times, dims) order-flow stream instead of drawing one: for
        hand-checked tests and for replaying recorded flow; times count from the warm-up start.
        """
        out, rec_t, rec_i = self.run_raw(ss, flow)
        return self._result(out, int(out[O_N_FILLS])), rec_t, rec_i

    def run_raw(self, ss: np.random.SeedSequence,
                flow: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None,
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """The engine's output vector (``O_*`` slots, reused buffer) and record views, no result
        object: the Monte Carlo loop summarises thousands of paths from these directly."""
        m = self.model
        flow_ss, book_ss = ss.spawn(2)
        if flow is None:
            times, dims = draw_flow_arrays(m, self.t_total, np.random.Generator(np.random.PCG64(flow_ss)))
        else:
            times = np.ascontiguousarray(flow[0], dtype=np.float64)
            dims = np.ascontiguousarray(flow[1], dtype=np.int64)
        rng = np.random.Generator(np.random.PCG64(book_ss))
        b = self.book
        per_decision = 6 if self.catch_up_on else 4  # the catch-up adds a cancel and a cross per decision
        need = len(times) + per_decision * (int(self.order.horizon_s / self.policy.decision_interval_s) + 8) + 64 \
            + REACTION_CAP
        if self.rec_t.shape[0] < need:
            self.rec_t = np.zeros(2 * need)
            self.rec_i = np.zeros((2 * need, 5), np.int64)
        self.stats[:] = 0
        fr, pace, cross = self.sched
        run_path(b, m.ref_tick - b.lvl_head.shape[1] // 2, m.ref_tick, m.init_spread_ticks, m.init_levels,
                 m.init_orders_per_level, times, dims, rng, m.tables, self.pol_f, self.pol_i, fr, pace, cross,
                 self.stats, self.rec_t, self.rec_i, self.fills, self.out, self.reaction, self.ex_t, self.ex_d)
        out = self.out
        n_rec = int(out[O_N_REC])
        n_fill = int(out[O_N_FILLS])
        if n_rec > self.rec_t.shape[0] or n_fill > self.fills.shape[0]:
            raise RuntimeError("record buffers overflowed; this is a bug in buffer sizing")
        return out, self.rec_t[:n_rec], self.rec_i[:n_rec]

    def _result(self, out: NDArray[np.float64], n_fill: int) -> ExecutionResult:
        tick = self.model.tick_size
        filled = int(out[O_FILLED])
        arrival = out[O_ARRIVAL_MID] * tick
        avg = out[O_NOTIONAL] / filled * tick if filled else math.nan
        fills = self.fills[:n_fill].copy()
        fills[:, 0] -= self.warmup_s
        fills[:, 1] *= tick
        d = self.order.direction
        return ExecutionResult(
            fills=fills,
            filled_qty=filled,
            fill_ratio=filled / self.order.quantity,
            avg_fill_price=avg,
            arrival_mid=arrival,
            end_mid=out[O_END_MID] * tick,
            shortfall_bps=slippage_bps(d, avg, arrival) if filled else math.nan,
            shortfall_notional=shortfall_notional(d, avg, arrival, filled) if filled else 0.0,
            child_orders=int(out[O_CHILDREN]),
            market_volume=int(out[O_MKT_VOLUME]),
        )


def execute_parent(model: MarketModel, order: ParentOrder, policy: ExecutionPolicy,
                   seed: int | np.random.SeedSequence, *, warmup_s: float = 60.0) -> ExecutionResult:
    """Work ``order`` under ``policy`` on one market path; the market warms up ``warmup_s`` first."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    result, _, _ = PathRunner(model, order, policy, warmup_s).run(ss)
    return result
