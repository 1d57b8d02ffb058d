"""The catch-up's tolerance taper (``CatchUp.end_tolerance``, simulator/execution/catchup.py): linear from
the tolerance at arrival to the end tolerance at the horizon, only ever tighter than the flat rule, a flat
"taper" leaves every draw and action of the flat catch-up, and a tapered arm is never ahead of its schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.execution.catchup import CatchUp, tapered_tolerance
from simulator.execution.run import PathRunner
from tests.unit import test_catchup as flat_tests
from tests.unit.test_catchup import _setup


def test_taper_is_linear_from_the_tolerance_to_the_end_tolerance() -> None:
    assert tapered_tolerance(0.2, 0.0, 0.0) == 0.2
    assert tapered_tolerance(0.2, 0.0, 0.5) == pytest.approx(0.1)
    assert tapered_tolerance(0.2, 0.05, 1.0) == pytest.approx(0.05)
    assert tapered_tolerance(0.2, 0.05, 1.5) == pytest.approx(0.05)  # clipped to the horizon
    assert tapered_tolerance(0.1, 0.1, 0.7) == 0.1  # flat: exactly the tolerance
    assert tapered_tolerance(math.inf, math.inf, 0.7) == math.inf  # off stays off


@settings(max_examples=300, deadline=None)
@given(tol=st.floats(0, 1), share=st.floats(0, 1), frac=st.floats(0, 1))
def test_taper_only_tightens(tol: float, share: float, frac: float) -> None:
    end = tol * share
    t = tapered_tolerance(tol, end, frac)
    assert end - 1e-12 <= t <= tol + 1e-12


def test_taper_config_is_checked() -> None:
    with pytest.raises(ValueError):
        CatchUp(0.1, end_tolerance=0.2)  # a taper may not loosen
    with pytest.raises(ValueError):
        CatchUp(0.1, end_tolerance=-0.01)
    assert CatchUp(0.1).tolerance_at_end == 0.1 and CatchUp(0.1, end_tolerance=0.0).tolerance_at_end == 0.0
    assert CatchUp(0.1, end_tolerance=0.1).label() == CatchUp(0.1).label() == "catch-up tol 0.1 final 0"
    assert CatchUp(0.15, 0.0, 1.0, 1.0, 60.0, 0.05).label() == "catch-up tol 0.15 to 0.05 final 0 gate 1x/60s until 1"


@pytest.mark.parametrize("flat", [CatchUp(0.1, 0.0), CatchUp(0.1, 0.0, 1.0, 1.0, 60.0)])
def test_a_flat_taper_is_the_flat_catch_up(flat: CatchUp) -> None:
    order, model, _, passive = _setup()
    same = CatchUp(flat.tolerance, flat.final, flat.spread_gate, flat.gate_deadline, flat.gate_memory_s,
                   flat.tolerance)
    for k in range(3):
        a, a_t, a_i = PathRunner(model, order.parent(), passive, 30.0, catch_up=flat).run(
            np.random.SeedSequence(600 + k))
        b, b_t, b_i = PathRunner(model, order.parent(), passive, 30.0, catch_up=same).run(
            np.random.SeedSequence(600 + k))
        assert np.array_equal(a.fills, b.fills) and np.array_equal(a_t, b_t) and np.array_equal(a_i, b_i)


def test_a_taper_crosses_more_near_the_end_and_fills_at_least_as_much() -> None:
    order, model, _, passive = _setup()
    flat, tapered = CatchUp(0.2, 0.0), CatchUp(0.2, 0.0, end_tolerance=0.0)
    f = t = 0
    for k in range(6):
        f += PathRunner(model, order.parent(), passive, 30.0, catch_up=flat).run(np.random.SeedSequence(700 + k))[
            0].filled_qty
        t += PathRunner(model, order.parent(), passive, 30.0, catch_up=tapered).run(np.random.SeedSequence(700 + k))[
            0].filled_qty
    assert t > f


@pytest.mark.parametrize("cu", [CatchUp(0.2, 0.0, end_tolerance=0.0), CatchUp(0.1, 0.0, 1.0, 1.0, 60.0, 0.025)])
def test_a_tapered_catch_up_is_never_ahead_of_the_schedule(cu: CatchUp) -> None:
    flat_tests.test_catch_up_is_never_ahead_of_the_schedule_and_crosses_only_behind(cu)
