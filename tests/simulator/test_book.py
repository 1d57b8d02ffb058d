"""Order book: FIFO priority, partial fills, cancels by id, queue position, and agreement with the
plain-Python reference book under random operation sequences."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.book import (
    ASK,
    BID,
    ReferenceBook,
    add_limit,
    cancel,
    check_invariants,
    execute_market,
    new_book,
    reduce,
    snapshot,
    volume_ahead,
)
from simulator.book.core import M_NFILLS, maybe_recenter, recenter

BUY, SELL = 0, 1


def drain_fills(b):
    n = int(b.meta[M_NFILLS])
    out = [tuple(int(x) for x in row) for row in b.fills[:n]]
    b.meta[M_NFILLS] = 0
    return out


def test_fifo_partial_fill_and_queue_position():
    b = new_book(900, window=256, capacity=64)
    a1 = add_limit(b, ASK, 1001, 100, 0)
    own = add_limit(b, ASK, 1001, 50, 1)
    a3 = add_limit(b, ASK, 1001, 70, 0)
    add_limit(b, BID, 999, 10, 0)
    assert volume_ahead(b, own) == 100
    # 130 shares lift the whole first order and 30 of ours: time priority, not size priority.
    assert execute_market(b, BUY, 130, 1 << 40) == 130
    assert drain_fills(b) == [(own, 1001, 30)]
    assert volume_ahead(b, own) == 0
    assert b.o_size[own] == 20 and b.o_side[a1] == -1 and b.o_size[a3] == 70
    snap = snapshot(b)
    assert snap.best_ask == 1001 and snap.asks == ((1001, 90),) and snap.bids == ((999, 10),)
    assert check_invariants(b) == 0


def test_market_order_walks_levels_and_respects_limit():
    b = new_book(900, window=256, capacity=64)
    for p, q in ((1001, 10), (1002, 20), (1004, 30)):
        add_limit(b, ASK, p, q, 0)
    add_limit(b, BID, 1000, 5, 0)
    # Limit 1002: takes 10 @1001 and 20 @1002, stops before 1004 (IOC remainder discarded).
    assert execute_market(b, BUY, 100, 1002) == 30
    assert snapshot(b).best_ask == 1004
    # A sell with no limit empties the bid side.
    assert execute_market(b, SELL, 100, -(1 << 40)) == 5
    assert snapshot(b).best_bid is None
    assert check_invariants(b) == 0


def test_cancel_ahead_advances_queue_position_cancel_behind_does_not():
    b = new_book(900, window=256, capacity=64)
    ahead = add_limit(b, BID, 1000, 40, 0)
    own = add_limit(b, BID, 1000, 10, 1)
    behind = add_limit(b, BID, 1000, 25, 0)
    assert volume_ahead(b, own) == 40
    assert cancel(b, behind) == 25
    assert volume_ahead(b, own) == 40
    assert reduce(b, ahead, 15) == 15  # partial cancel keeps priority but shrinks the queue ahead
    assert volume_ahead(b, own) == 25
    assert cancel(b, ahead) == 25
    assert volume_ahead(b, own) == 0
    assert cancel(b, ahead) == 0  # cancelling twice is a no-op, not a corruption
    assert check_invariants(b) == 0


def test_crossing_add_is_refused_and_best_pointers_follow_cancels():
    b = new_book(900, window=256, capacity=64)
    o1 = add_limit(b, BID, 1000, 10, 0)
    add_limit(b, BID, 995, 10, 0)
    add_limit(b, ASK, 1003, 10, 0)
    assert add_limit(b, BID, 1003, 5, 0) == -1
    assert add_limit(b, ASK, 1000, 5, 0) == -1
    cancel(b, o1)
    assert snapshot(b).best_bid == 995
    assert check_invariants(b) == 0


def test_recenter_keeps_near_orders_and_drops_far_ones():
    b = new_book(0, window=64, capacity=64)
    near = add_limit(b, BID, 30, 7, 0)
    far = add_limit(b, BID, 2, 9, 0)
    add_limit(b, ASK, 33, 4, 0)
    recenter(b, 50)  # window becomes [18, 82): the order at tick 2 falls out
    snap = snapshot(b)
    assert snap.best_bid == 30 and snap.best_ask == 33 and snap.bids == ((30, 7),)
    assert b.o_side[far] == -1 and b.o_side[near] == BID
    assert check_invariants(b) == 0
    assert maybe_recenter(b)  # touch at index 12 of 64 is inside the quarter margin: centre on it
    assert snapshot(b).bids == ((30, 7),) and not maybe_recenter(b)
    assert check_invariants(b) == 0


ops = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 1), st.integers(-6, 6), st.integers(1, 60)),
    min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_compiled_book_matches_reference(seq):
    b = new_book(800, window=512, capacity=512)
    ref = ReferenceBook()
    ids: list[tuple[int, int]] = []  # (compiled id, reference id) of live-or-dead orders
    for kind, side, offset, size in seq:
        if kind <= 1:
            own = kind == 1
            price = 1000 + offset
            cid = add_limit(b, side, price, size, int(own))
            rid = ref.add_limit(side, price, size, own)
            assert (cid == -1) == (rid is None)
            if rid is not None:
                ids.append((cid, rid))
        elif kind == 2 and ids:
            cid, rid = ids[size % len(ids)]
            if rid in ref.orders:
                assert cancel(b, cid) == ref.cancel(rid)
        elif kind == 3:
            limit = 1000 + offset
            assert execute_market(b, side, size, limit) == ref.execute_market(side, size, limit)
        elif kind == 4 and ids:
            cid, rid = ids[size % len(ids)]
            if rid in ref.orders:
                assert volume_ahead(b, cid) == ref.volume_ahead(rid)
        assert check_invariants(b) == 0
        snap = snapshot(b, 5)
        assert snap.best_bid == ref.best_bid() and snap.best_ask == ref.best_ask()
        assert list(snap.bids) == ref.depth(0, 5) and list(snap.asks) == ref.depth(1, 5)
    id_map = {c: r for c, r in ids}
    fills = [(id_map.get(o, -99), p, q) for o, p, q in drain_fills(b)]
    # Slot ids are recycled, so map through the most recent owner of each slot.
    assert [(p, q) for _, p, q in fills] == [(p, q) for _, p, q in ref.own_fills]


def test_pool_exhaustion_refuses_instead_of_corrupting():
    b = new_book(0, window=64, capacity=4)
    got = [add_limit(b, BID, 10, 1, 0) for _ in range(6)]
    assert len(set(got[:4])) == 4 and min(got[:4]) >= 0
    assert got[4:] == [-1, -1]
    assert int(np.sum(b.lvl_vol[BID])) == 4
    assert check_invariants(b) == 0


def test_reset_restores_a_new_book_exactly():
    from simulator.book.core import reset_book

    b = new_book(500, window=128, capacity=64)
    rng = np.random.default_rng(3)
    live: list[int] = []
    for _ in range(400):
        if live and rng.random() < 0.45:
            cancel(b, live.pop(int(rng.integers(len(live)))))
        else:
            side = int(rng.integers(2))
            oid = add_limit(b, side, 560 + (-1 - int(rng.integers(5)) if side == BID else 1 + int(rng.integers(5))),
                            int(rng.integers(1, 50)), int(rng.random() < 0.1))
            if oid >= 0:
                live.append(oid)
    execute_market(b, 0, 100, 1 << 40)
    reset_book(b, 700)
    fresh = new_book(700, window=128, capacity=64)
    for name in fresh._fields:
        if name == "fills":
            continue  # a scratch buffer: only the first meta[M_NFILLS] rows are ever read
        assert np.array_equal(getattr(b, name), getattr(fresh, name)), name
