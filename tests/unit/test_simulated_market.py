"""The simulated live market: deterministic records, and regimes that move spread and depth as documented."""

from __future__ import annotations

import numpy as np
import pytest

from producers.records import FeedRecord
from producers.simulated_market.feed import market_records, symbol_records
from producers.simulated_market.regimes import CALM, REGIME_NAMES, SHOCK, STRESSED, schedule, segments, sidecar
from producers.simulated_market.symbols import symbol_model, symbol_names
from simulator.market.model import MarketModel

S = 1_000_000_000
START = 1_767_623_400 * S


def _bytes(records: list[FeedRecord]) -> list[tuple[str, str, int, bytes]]:
    return [(r.kind, r.symbol, r.ts_ns, r.json_bytes()) for r in records]


def test_same_seed_gives_byte_identical_records_and_another_seed_does_not() -> None:
    syms = symbol_names(3)
    a = _bytes(list(market_records(11, syms, START, 150, segment_s=30, l2_interval_s=1.0)))
    b = _bytes(list(market_records(11, syms, START, 150, segment_s=30, l2_interval_s=1.0)))
    c = _bytes(list(market_records(12, syms, START, 150, segment_s=30, l2_interval_s=1.0)))
    assert a == b
    assert a != c
    assert {k for k, *_ in a} == {"quotes", "trades", "book_l2"}
    assert {s for _, s, *_ in a} == set(syms)
    times = [t for _, _, t, _ in a]
    assert times == sorted(times)  # merged in event-time order


def test_records_carry_event_time_and_valid_touch() -> None:
    for r in symbol_records(3, "SIM01", START, 60):
        env = r.value
        assert env["symbol"] == r.symbol == "SIM01"
        if r.kind == "quotes":
            p = env["payload"]
            assert p["bp"] < p["ap"] and p["bs"] > 0 and p["as"] > 0
            assert p["t"] == env["eventTs"]


def test_symbols_have_their_own_seeded_models() -> None:
    amzn = symbol_model(1, "AMZN")
    assert amzn.ref_price == MarketModel.load(amzn_path()).ref_price  # the fitted model itself
    a1, a2, b = symbol_model(1, "SIM01"), symbol_model(1, "SIM01"), symbol_model(2, "SIM01")
    assert a1.ref_price == a2.ref_price and np.array_equal(a1.hawkes.mu, a2.hawkes.mu)
    assert (a1.ref_price, a1.hawkes.mu[0]) != (b.ref_price, b.hawkes.mu[0])
    assert a1.hawkes.spectral_radius() < 1


def amzn_path() -> str:
    from producers.simulated_market.symbols import FITTED_PARAMS

    return str(FITTED_PARAMS)


def test_schedule_is_pure_and_matches_segments_and_sidecar() -> None:
    segs = segments(5, "SIM02", 3600, 60)
    assert segs[0][2] == CALM
    assert {r for *_, r in segs} == set(REGIME_NAMES)  # an hour shows every regime
    for a, _, r in segs:
        assert schedule(5, "SIM02", a + 30, 60) == r
    side = sidecar(5, ["SIM02"], START, 3600, 60)
    assert [x["regime"] for x in side["symbols"]["SIM02"]] == [r for *_, r in segs]
    assert side["symbols"]["SIM02"][1]["start_ns"] == START + 60 * S
    with pytest.raises(ValueError):
        schedule(5, "SIM02", -1.0)


def _regime_stats(regime: str) -> tuple[float, float, float]:
    """Time-weighted quoted spread (price) and touch depth (shares), mean top-5 L2 depth (shares)."""
    recs = list(symbol_records(5, "SIM01", 0, 1200, regime=regime, l2_interval_s=1.0))
    quotes = [r for r in recs if r.kind == "quotes"]
    t = np.array([r.ts_ns for r in quotes], dtype=np.float64)
    w = np.diff(t, append=1200 * S)
    spread = np.array([r.value["payload"]["ap"] - r.value["payload"]["bp"] for r in quotes])
    touch = np.array([r.value["payload"]["bs"] + r.value["payload"]["as"] for r in quotes])
    top5 = [sum(x["size"] for x in r.value["bids"] + r.value["asks"]) for r in recs if r.kind == "book_l2"]
    return float(np.average(spread, weights=w)), float(np.average(touch, weights=w)), float(np.mean(top5))


def test_regimes_widen_spread_and_withdraw_depth_in_the_documented_direction() -> None:
    calm, stressed, shock = (_regime_stats(r) for r in (CALM, STRESSED, SHOCK))
    assert calm[0] < stressed[0] < shock[0]  # spread widens
    assert calm[1] > stressed[1] > shock[1]  # touch depth withdraws
    assert calm[2] > stressed[2] and calm[2] > shock[2]  # and so does the top-5 book
    assert shock[0] > 2 * calm[0]
