"""Feature formulas against hand-computed numbers (docs/features.md gives each definition)."""

from __future__ import annotations

import math

import pytest

from consumers.common.decay import NS_PER_S, decay_factor, ewma_count, ewma_time
from consumers.state import features as F
from streams.processor import InvalidRecord


def test_spread_bps_is_relative_to_mid() -> None:
    # (100.01 - 99.99) / 100.00 * 1e4 = 2.0 bps
    assert F.spread_bps(99.99, 100.01) == pytest.approx(2.0)
    # (10.10 - 10.00) / 10.05 * 1e4 = 99.5025 bps
    assert F.spread_bps(10.00, 10.10) == pytest.approx(99.50248756, rel=1e-9)


def test_depth_top_of_book() -> None:
    # 100 * 300 + 100.02 * 200 = 30000 + 20004
    assert F.depth_top_of_book_usd(100.0, 300, 100.02, 200) == pytest.approx(50004.0)
    # round-lot feed: sizes in lots of 100 shares
    assert F.depth_top_of_book_usd(100.0, 3, 100.02, 2, size_multiplier=100) == pytest.approx(50004.0)


def test_depth_top5_from_l2_uses_five_levels_per_side() -> None:
    bids = [{"price": 100.0 - i, "size": 10.0} for i in range(7)]  # 100, 99, ..., 94
    asks = [{"price": 101.0 + i, "size": 1.0} for i in range(3)]  # only three levels
    # bids: 10 * (100 + 99 + 98 + 97 + 96) = 4900; asks: 101 + 102 + 103 = 306
    assert F.depth_top5_usd_l2(bids, asks) == pytest.approx(5206.0)
    assert F.depth_top5_usd_l2(bids, asks, levels=1) == pytest.approx(1000.0 + 101.0)


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([{"price": 101.0, "size": 1.0}], [{"price": 101.0, "size": 1.0}], "crossed_book"),
        ([{"price": -1.0, "size": 1.0}], [], "non_positive_value"),
        ([{"price": 1.0, "size": -1.0}], [], "negative_value"),
        ([{"price": float("nan"), "size": 1.0}], [], "non_finite_number"),
        ("nope", [], "wrong_envelope"),
    ],
)
def test_l2_book_validation(bids: object, asks: object, reason: str) -> None:
    with pytest.raises(InvalidRecord) as exc:
        F.depth_top5_usd_l2(bids, asks)
    assert exc.value.reason == reason


def test_ofi_increment_cont_kukanov_stoikov_cases() -> None:
    prev = (100.0, 5.0, 101.0, 7.0)
    # bid improves to 100.5 with 3: +3; ask unchanged 7 -> 7: -7 + 7 = 0
    assert F.ofi_increment(*prev, 100.5, 3.0, 101.0, 7.0) == pytest.approx(3.0)
    # bid drops to 99.5: the old bid queue (5) is gone: -5
    assert F.ofi_increment(*prev, 99.5, 4.0, 101.0, 7.0) == pytest.approx(-5.0)
    # same prices: bid 5 -> 8 (+3), ask 7 -> 9 (-2): +1
    assert F.ofi_increment(*prev, 100.0, 8.0, 101.0, 9.0) == pytest.approx(1.0)
    # ask lifted away to 101.5: the old ask queue (7) was consumed: +7
    assert F.ofi_increment(*prev, 100.0, 5.0, 101.5, 2.0) == pytest.approx(7.0)
    # ask improves to 100.8 with 4 shares: -4
    assert F.ofi_increment(*prev, 100.0, 5.0, 100.8, 4.0) == pytest.approx(-4.0)


def test_normalised_ofi() -> None:
    # e = 3, -5, 1 with no decay: S = -1, A = 9
    assert F.normalised_ofi(-1.0, 9.0) == pytest.approx(-1.0 / 9.0)
    assert F.normalised_ofi(0.0, 0.0) == 0.0
    assert F.normalised_ofi(5.0, 5.0) == 1.0


def test_realized_volatility_bps() -> None:
    # mids 100 -> 101 -> 100, one second apart: r = +-ln(1.01)
    r = math.log(1.01)
    vol = F.realized_volatility_bps(2 * r * r, 2.0)
    assert vol == pytest.approx(r * 1e4)  # ~99.50 bps per sqrt(s)
    assert vol == pytest.approx(99.5033, rel=1e-5)
    assert F.realized_volatility_bps(0.0, 0.0) is None


def test_queue_fill_probability() -> None:
    # 100 shares hit the bid "now" with tau = 30 s: rate = 100 / 30 shares/s; queue 500; H = 60 s
    # rate * H / queue = 0.4 -> 1 - exp(-0.4) = 0.329680
    assert F.queue_fill_probability(100 / 30, 500, 60) == pytest.approx(0.3296799539643607)
    assert F.queue_fill_probability(0.0, 500, 60) == 0.0
    assert F.queue_fill_probability(1.0, 0.0, 60) == 1.0


def test_blend_with_own_fills() -> None:
    # model 0.3 worth 5 pseudo-trials, our record 3 fills out of 4: (3 + 1.5) / 9 = 0.5
    assert F.blend_with_own_fills(0.3, 3.0, 4.0, 5.0) == pytest.approx(0.5)
    assert F.blend_with_own_fills(0.3, 0.0, 0.0, 5.0) == pytest.approx(0.3)
    assert F.blend_with_own_fills(0.3, 0.0, 0.0, 0.0) == pytest.approx(0.3)


def test_crumbling_quote_probability() -> None:
    assert F.crumbling_quote_probability(100, 300) == pytest.approx(0.75)
    assert F.crumbling_quote_probability(300, 300) == pytest.approx(0.5)


def test_decay_helpers() -> None:
    tau = 10.0
    half = int(tau * math.log(2) * NS_PER_S)
    assert decay_factor(half, tau) == pytest.approx(0.5, rel=1e-9)
    assert decay_factor(-5, tau) == 1.0  # late events never un-decay
    assert ewma_time(10.0, 20.0, half, tau) == pytest.approx(15.0, rel=1e-9)
    assert ewma_count(None, 7.0, 0.2) == 7.0
    assert ewma_count(10.0, 20.0, 0.2) == pytest.approx(12.0)
