"""The fill-rate gap's bootstrap interval: seeded, around the observed gap, zero-width for identical arms."""

from __future__ import annotations

from typing import Any

from microexec.replay.validation import fill_gap_interval, noise_line


def _rows(pairs: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    return [{"quantity": q, "baseline": {"filled_qty": b}, "advised": {"filled_qty": a}} for q, b, a in pairs]


def test_interval_is_seeded_and_brackets_the_gap() -> None:
    rows = _rows([(100, 60, 50 + (k % 3) * 10) for k in range(90)])  # advised 50/60/70: gap 0 on average
    gap = sum(r["advised"]["filled_qty"] - r["baseline"]["filled_qty"] for r in rows) / sum(r["quantity"] for r in rows)
    lo, hi = fill_gap_interval(rows)
    assert (lo, hi) == fill_gap_interval(rows)
    assert lo < 100 * gap < hi and hi - lo < 10
    same = _rows([(100, 60, 60)] * 30)
    assert fill_gap_interval(same) == (0.0, 0.0)
    worse = _rows([(100, 60, 30 + k % 5) for k in range(50)])
    assert fill_gap_interval(worse)[1] < -20


def test_noise_line_counts_intervals_holding_zero_and_inside_the_band() -> None:
    results = [("a", "", {"fillGapInterval": (-1.0, 1.5)}), ("b", "", {"fillGapInterval": (-5.0, -3.0)}),
               ("c", "", {"fillGapInterval": (-3.0, 1.0)})]
    line = noise_line(results)
    assert "a -1.0 to +1.5" in line and "In 2 of 3 runs the interval holds 0" in line and "in 1 it lies" in line
