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
