"""Step histories: the value at or before a time, only changes kept, late entries placed, and no
answer (rather than a wrong one) for times before what was dropped."""

from __future__ import annotations

from consumers.tca import history


def test_lookup_at_or_before_with_ties_late_entries_and_dedup() -> None:
    h = None
    for ts, mid in [(10, 1.0), (20, 1.0), (30, 2.0), (30, 2.5), (50, 3.0)]:
        h = history.record(h, ts, mid, cap=10)
    assert h is not None and h["h"] == [[10, 1.0], [30, 2.5], [50, 3.0]] and h["mx"] == 50  # 20 repeated 1.0
    h = history.record(h, 40, 9.0, cap=10)  # late: placed where it belongs
    assert [history.lookup(h, t) for t in (9, 10, 29, 30, 45, 99)] == [
        None, (10, 1.0), (10, 1.0), (30, 2.5), (40, 9.0), (50, 3.0)]
    assert history.newest_time(h) == 50


def test_dropped_history_answers_nothing_before_its_oldest_entry() -> None:
    h = None
    for ts in range(1, 6):
        h = history.record(h, ts * 10, float(ts), cap=3)
    assert h is not None and h["dr"] and [e[0] for e in h["h"]] == [30, 40, 50]
    assert history.lookup(h, 25) is None and history.lookup(h, 35) == (30, 3.0)
    assert history.record(h, 5, 0.5, cap=3)["h"] == h["h"]  # older than what was dropped: not placed
