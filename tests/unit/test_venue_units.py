"""The tick and size unit read off a venue's decimals (simulator/calibration/units.py), and seeded
orders confined to each symbol's own recording (producers/paper/orders.py ``spans``)."""

from __future__ import annotations

import pytest

from producers.paper.orders import generate_orders
from simulator.calibration.units import decimals, size_unit_from_sizes, tick_from_prices


@pytest.mark.parametrize(("x", "d"), [
    (60000.01, 2), (200.5, 1), (200.0, 0), (0.00016, 5), (3.4 * 13, 1), (0.1 + 0.2, 1),
    (123456789.123, 3), (1e-9, 8), (0.0, 0), (-12.25, 2),
])
def test_decimals_ignore_binary_noise(x: float, d: int) -> None:
    assert decimals(x) == d


def test_tick_is_never_coarser_than_a_cent_and_follows_sub_penny_quotes() -> None:
    assert tick_from_prices([60000.5, 60001.0]) == pytest.approx(0.01)  # a 0.5 venue: finer is the safe side
    assert tick_from_prices([0.12345, 0.1235]) == pytest.approx(1e-5)
    assert tick_from_prices([]) == pytest.approx(0.01)


def test_size_unit_counts_every_size_whole() -> None:
    assert size_unit_from_sizes([100, 250, 0]) == 1.0
    assert size_unit_from_sizes([3.0, 0.00016, 1.5]) == pytest.approx(1e-5)


def test_spans_keep_each_symbol_inside_its_own_window_and_leave_one_window_runs_unchanged() -> None:
    s = 1_000_000_000
    plain = generate_orders(3, ["A", "B"], 0, 600 * s, 200, horizon_range=(10, 60))
    same = generate_orders(3, ["A", "B"], 0, 600 * s, 200, horizon_range=(10, 60),
                           spans={"A": (0, 600 * s), "B": (0, 600 * s)})
    assert plain == same
    spans = {"A": (0, 100 * s), "B": (500 * s, 900 * s)}
    orders = generate_orders(3, ["A", "B"], 0, 900 * s, 200, horizon_range=(10, 60), spans=spans)
    assert {o.symbol for o in orders} == {"A", "B"}
    for o in orders:
        lo, hi = spans[o.symbol]
        assert lo <= o.submitted_ns and o.submitted_ns + o.horizon_s * s <= hi
    with pytest.raises(ValueError, match="A's window"):
        generate_orders(3, ["A"], 0, 900 * s, 5, horizon_range=(10, 200), spans={"A": (0, 100 * s)})
