from __future__ import annotations

from streams.ordering import EventTimeMerger, merge_in_event_time


def test_heads_are_released_in_timestamp_then_topic_rank_order() -> None:
    records = [("q", 0, 10, 0, "q10"), ("q", 0, 30, 1, "q30"), ("t", 0, 20, 0, "t20"), ("t", 0, 30, 1, "t30"),
               ("q", 1, 5, 0, "p1-q5")]
    assert list(merge_in_event_time(["q", "t"], records)) == ["q10", "t20", "q30", "t30", "p1-q5"]


def test_a_topic_that_is_merely_slow_holds_the_group_back_until_idle_or_end() -> None:
    m: EventTimeMerger[str] = EventTimeMerger(["q", "t"], max_idle_s=1.0)
    m.assign("q", 0)
    m.assign("t", 0)
    m.add("q", 0, 50, 0, "q50")
    assert list(m.drain(now=0.0)) == []  # t[0] may still hold an earlier record
    assert m.first_buffered_offset("q", 0) == 0
    m.add("t", 0, 40, 7, "t40")
    assert list(m.drain(now=0.1)) == ["t40"]  # t is empty again: q waits
    m.mark_end("t", 0)
    assert list(m.drain(now=0.2)) == ["q50"]
    m.add("q", 0, 60, 1, "q60")
    m.add("t", 0, 70, 8, "t70")  # new data: t is no longer at its end
    assert list(m.drain(now=0.3)) == ["q60"]
    m.add("q", 0, 80, 2, "q80")
    assert list(m.drain(now=0.4)) == ["t70"]
    assert list(m.drain(now=0.5)) == []  # q80 waits for t...
    assert list(m.drain(now=1.6)) == ["q80"]  # ...but not forever


def test_clear_and_revoke_forget_buffers() -> None:
    m: EventTimeMerger[str] = EventTimeMerger(["q", "t"])
    m.assign("q", 0)
    m.add("q", 0, 1, 0, "x")
    m.clear()
    assert m.buffered() == 0 and m.first_buffered_offset("q", 0) is None
    m.add("q", 0, 1, 1, "y")
    m.revoke("q", 0)
    assert m.buffered() == 0


def test_the_idle_clock_runs_only_while_the_consumer_is_caught_up() -> None:
    """Time spent working through a backlog (full batches) is not waiting: a group blocked on a topic
    that is neither buffered nor at its end is not released by the idle limit until the consumer
    has drained what it had fetched, and then only after max_idle_s more."""
    merger: EventTimeMerger[str] = EventTimeMerger(["quotes", "trades"], max_idle_s=0.5)
    merger.assign("quotes", 0)
    merger.assign("trades", 0)
    merger.add("quotes", 0, 100, 0, "q0")
    assert list(merger.drain(0.0, caught_up=False)) == []
    assert list(merger.drain(5.0, caught_up=False)) == []  # seconds of backlog: still waiting for trades
    assert list(merger.drain(5.1, caught_up=True)) == []  # caught up: the idle clock starts now
    assert list(merger.drain(5.5, caught_up=True)) == []
    assert list(merger.drain(5.7, caught_up=True)) == ["q0"]  # 0.6 s caught up and idle: proceed


def _live(lateness_ms: int = 100, sparse_lateness_ms: int | None = None) -> EventTimeMerger[str]:
    """quotes and trades dense, updates sparse, all assigned on partition 0 and at their end."""
    m: EventTimeMerger[str] = EventTimeMerger(["q", "t", "u"], max_idle_s=5.0, lateness_ms=lateness_ms,
                                              sparse=["u"], sparse_lateness_ms=sparse_lateness_ms)
    for name in ("q", "t", "u"):
        m.assign(name, 0)
        m.mark_end(name, 0)
    return m


def test_an_input_at_its_end_holds_a_head_until_the_dense_streams_are_the_lateness_bound_past_it() -> None:
    m = _live(lateness_ms=100)
    m.extend("q", 0, [(1000, 0, "q1000"), (1050, 1, "q1050")])
    m.mark_end("q", 0)
    assert list(m.drain(0.0)) == []  # t and u may still deliver something older than 1000 - 100
    m.extend("q", 0, [(1100, 2, "q1100")])
    m.mark_end("q", 0)
    assert list(m.drain(0.01)) == ["q1000"]  # D = 1100: everything at or before 1000 has arrived
    m.extend("u", 0, [(1020, 0, "u1020")])  # a sparse record inside the bound: merged in event time
    m.mark_end("u", 0)
    m.extend("t", 0, [(1200, 0, "t1200")])
    m.mark_end("t", 0)
    assert list(m.drain(0.02)) == ["u1020", "q1050", "q1100"]
    assert m.late == {} and m.out_of_order == {}
    assert m.first_buffered_offset("t", 0) == 0  # t1200 waits for D >= 1300


def test_a_record_beyond_the_bound_is_processed_at_once_and_counted_late() -> None:
    m = _live(lateness_ms=100)
    m.extend("q", 0, [(1000, 0, "q1000"), (1500, 1, "q1500")])
    m.mark_end("q", 0)
    assert list(m.drain(0.0)) == ["q1000"]
    m.extend("t", 0, [(900, 0, "t900"), (1450, 1, "t1450")])  # t900 is older than q1000, released already
    m.mark_end("t", 0)
    assert list(m.drain(0.01)) == ["t900"]  # t1450 waits for q to pass 1550
    assert m.late == {"t": 1}  # t1450 is not late: nothing newer than it was released
    assert m.out_of_order == {"t": 1}


def test_sparse_inputs_have_their_own_bound_and_never_hold_the_dense_streams_longer() -> None:
    m = _live(lateness_ms=100, sparse_lateness_ms=0)
    m.extend("q", 0, [(1000, 0, "q1000")])
    m.extend("t", 0, [(1000, 0, "t1000"), (1090, 1, "t1090")])
    for name in ("q", "t"):
        m.mark_end(name, 0)
    # q1000 waits for nothing: t is buffered, and u (sparse, bound 0) has had D = 1090 >= 1000;
    # t1000 then waits for q (dense, bound 100), which may still send another quote at 1000
    assert list(m.drain(0.0)) == ["q1000"]
    m.extend("q", 0, [(1190, 1, "q1190")])
    m.mark_end("q", 0)
    assert list(m.drain(0.0)) == ["t1000", "t1090"]


def test_a_paused_feed_is_flushed_after_the_bound_in_wall_time_and_only_while_caught_up() -> None:
    m = _live(lateness_ms=100)
    m.extend("q", 0, [(1000, 0, "q1000"), (1040, 1, "q1040")])
    m.mark_end("q", 0)
    assert list(m.drain(10.0)) == []
    assert list(m.drain(10.5, caught_up=False)) == []  # a backlog: the wall clock does not run
    assert list(m.drain(10.55)) == []
    assert list(m.drain(10.58)) == []
    assert list(m.drain(10.65)) == ["q1000", "q1040"]  # the dense streams paused for 0.15 s > 100 ms
    assert m.flushes == 1
    m.extend("t", 0, [(1010, 0, "t1010")])  # older than what the flush released: late, not lost
    m.mark_end("t", 0)
    assert list(m.drain(10.66)) == ["t1010"]
    assert m.late == {"t": 1}


def test_a_crawling_dense_stream_holds_a_head_at_most_the_bound_plus_the_idle_limit() -> None:
    m: EventTimeMerger[str] = EventTimeMerger(["q", "u"], max_idle_s=0.5, lateness_ms=100, sparse=["u"])
    for name in ("q", "u"):
        m.assign(name, 0)
        m.mark_end(name, 0)
    m.extend("q", 0, [(1000, 0, "q1000")])
    assert list(m.drain(0.0)) == []
    released: list[str] = []
    for i in range(1, 14):  # a quote every 50 ms of wall time, 1 ms of event time apart
        m.extend("q", 0, [(1000 + i, i, f"q{1000 + i}")])
        released += m.drain(0.05 * i)
    assert released == [] or released[0] == "q1000"
    assert "q1000" in released and m.flushes == 1  # at 0.6-0.65 s: 0.1 + 0.5


def test_the_offline_merge_equals_the_live_merge_when_every_record_is_on_time() -> None:
    import random

    rng = random.Random(3)
    records: list[tuple[str, int, int, int, str]] = []
    for name, step in (("q", 3), ("t", 7), ("u", 97)):
        ts = 0
        for offset in range(300 if name != "u" else 20):
            ts += rng.randint(0, step)
            records.append((name, 0, ts, offset, f"{name}{offset}"))
    offline = list(merge_in_event_time(["q", "t", "u"], records))
    m = _live(lateness_ms=50)
    # Arrival: records of every topic in offset order, interleaved by event time plus a jitter < bound.
    arrival = sorted(records, key=lambda r: r[2] + rng.randint(0, 40))
    by_topic: dict[str, list[tuple[str, int, int, int, str]]] = {}
    for r in arrival:
        by_topic.setdefault(r[0], []).append(r)
    for rs in by_topic.values():  # keep each topic's offset order (Kafka's guarantee)
        rs.sort(key=lambda r: r[3])
    queues = {name: iter(rs) for name, rs in by_topic.items()}
    live: list[str] = []
    now = 0.0
    for r in arrival:
        nxt = next(queues[r[0]])
        m.add(nxt[0], 0, nxt[2], nxt[3], nxt[4])
        m.mark_end(nxt[0], 0)
        live += m.drain(now)
    live += m.drain(now + 1.0)
    live += m.drain(now + 2.0)
    assert live == offline
    assert m.late == {}
