"""The catch-up's spread gate (simulator/execution/catchup.py, in the engine's loop): a due cross goes at
a normal spread, waits at an abnormally wide one, goes at the hard deadline whatever the spread, and a
gate that can never hold a cross back leaves every draw and action of the ungated catch-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.execution.catchup import CatchUp, reference_spread, spread_gate_open
from simulator.execution.engine import R_IOC
from simulator.execution.run import PathRunner
from tests.unit.test_catchup import _setup


def test_gate_crosses_at_a_normal_spread_and_waits_at_a_wide_one() -> None:
    # reference spread 4 ticks, gate 1.5x: 4 and 6 ticks are normal, 7 is abnormally wide
    assert spread_gate_open(4.0, 4.0, 1.5, 0.9, 0.3)
    assert spread_gate_open(6.0, 4.0, 1.5, 0.9, 0.3)
    assert not spread_gate_open(7.0, 4.0, 1.5, 0.9, 0.3)
    assert not spread_gate_open(40.0, 4.0, 1.5, 0.9, 0.899)


def test_gate_is_open_at_the_final_deadline_regardless_of_the_spread() -> None:
    assert spread_gate_open(40.0, 4.0, 1.5, 0.9, 0.9)
    assert spread_gate_open(1e9, 1.0, 1.0, 0.9, 0.95)
    assert spread_gate_open(1e9, 1.0, 1.0, 0.0, 0.0)  # deadline 0: never gated


def test_gate_off_always_crosses() -> None:
    assert spread_gate_open(1e9, 1.0, math.inf, 1.0, 0.5)


def test_reference_spread_is_a_time_weighted_average() -> None:
    assert reference_spread(4.0, 10.0, 0.0, 30.0) == 4.0  # no time passed: no weight
    assert reference_spread(4.0, 10.0, 1e6, 30.0) == pytest.approx(10.0)  # long ago: the spread itself
    w = 1.0 - math.exp(-30.0 / 30.0)
    assert reference_spread(4.0, 10.0, 30.0, 30.0) == pytest.approx(4.0 + w * 6.0)
    # two 15 s steps weigh the same as one 30 s step: time, not event count, is the weight
    assert reference_spread(reference_spread(4.0, 10.0, 15.0, 30.0), 10.0, 15.0, 30.0) == \
        pytest.approx(reference_spread(4.0, 10.0, 30.0, 30.0))


@settings(max_examples=300, deadline=None)
@given(spread=st.floats(0, 1e4), ref=st.floats(1e-3, 1e4), k=st.floats(0.1, 10), deadline=st.floats(0, 1),
       frac=st.floats(0, 1))
def test_gate_holds_back_only_a_wide_spread_before_the_deadline(spread: float, ref: float, k: float,
                                                                deadline: float, frac: float) -> None:
    ok = spread_gate_open(spread, ref, k, deadline, frac)
    assert ok or (spread > k * ref and frac < deadline)
    assert not ok or spread <= k * ref or frac >= deadline - 1e-12


def test_gate_config_is_checked() -> None:
    for bad in ({"spread_gate": 0.0}, {"spread_gate": math.nan}, {"gate_deadline": 1.5},
                {"gate_memory_s": 0.0}, {"gate_memory_s": math.inf}):
        with pytest.raises(ValueError):
            CatchUp(0.2, 0.0, **bad)
    assert not CatchUp(0.2).gated and CatchUp(0.2, 0.0, 1.25).gated
    assert not CatchUp(0.2, 0.0, 1.25, 0.0).gated  # open from the start
    assert CatchUp(0.2).label() == "catch-up tol 0.2 final 0"  # ungated labels as before the gate


@pytest.mark.parametrize("gate", [CatchUp(0.0, 0.0, 1e9, 1.0), CatchUp(0.0, 0.0, 0.5, 0.0)])
def test_a_gate_that_never_holds_back_is_the_ungated_catch_up(gate: CatchUp) -> None:
    # a gate so loose no spread passes it, and one open from the start: every draw and action of the
    # ungated catch-up (the gate's reference spread draws nothing)
    order, model, _, passive = _setup()
    for k in range(3):
        ss = np.random.SeedSequence(400 + k)
        a, a_t, a_i = PathRunner(model, order.parent(), passive, 30.0, catch_up=CatchUp(0.0, 0.0)).run(ss)
        b, b_t, b_i = PathRunner(model, order.parent(), passive, 30.0, catch_up=gate).run(
            np.random.SeedSequence(400 + k))
        assert np.array_equal(a.fills, b.fills) and np.array_equal(a_t, b_t) and np.array_equal(a_i, b_i)


def test_a_closed_gate_waits_for_the_deadline_then_crosses() -> None:
    # A gate no spread can pass (1e-9 x the reference) holds every cross back until 60% of the horizon;
    # from there the deficit crosses: the loop's decision, end to end.
    order, model, _, passive = _setup()
    h, lat, warm = order.horizon_s, passive.order_entry_latency_s, 30.0
    late = early = 0
    for k in range(6):
        ss = np.random.SeedSequence(500 + k)
        _, u_t, u_i = PathRunner(model, order.parent(), passive, warm, catch_up=CatchUp(0.0, 0.0)).run(ss)
        early += int(np.sum(u_t[u_i[:, 0] == R_IOC] - warm - lat < 0.6 * h - 1e-6))
        _, rec_t, rec_i = PathRunner(model, order.parent(), passive, warm,
                                     catch_up=CatchUp(0.0, 0.0, 1e-9, 0.6)).run(np.random.SeedSequence(500 + k))
        crosses = rec_t[rec_i[:, 0] == R_IOC] - warm - lat
        assert np.all(crosses >= 0.6 * h - 1e-6)  # decided at or after the deadline
        late += len(crosses)
    assert early > 0  # ungated, these paths cross before the deadline: the gate held those back
    assert late > 0  # and from the deadline on the gated arm crosses whatever the spread
