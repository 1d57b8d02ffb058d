"""Shortfall Monte Carlo: byte-identical digest in another process, different inputs differ."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from simulator.execution import ExecutionPolicy, ParentOrder
from simulator.market import illustrative_model
from simulator.montecarlo import seed_sequence_for, shortfall_monte_carlo
from simulator.version import SIMULATOR_VERSION

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import json
from simulator.execution import ExecutionPolicy, ParentOrder
from simulator.market import illustrative_model
from simulator.montecarlo import shortfall_monte_carlo
r = shortfall_monte_carlo(illustrative_model(), ParentOrder("ord-42", "buy", 300, 20.0),
                          ExecutionPolicy(), n_paths=12, warmup_s=5.0)
print(json.dumps(r.to_dict()))
"""


def run_here(order_id: str = "ord-42"):
    return shortfall_monte_carlo(illustrative_model(), ParentOrder(order_id, "buy", 300, 20.0),
                                 ExecutionPolicy(), n_paths=12, warmup_s=5.0)


def test_same_inputs_same_digest_in_another_process():
    here = run_here()
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True,
                         timeout=300, check=True)
    there = json.loads(out.stdout.strip().splitlines()[-1])
    assert there["digest"] == here.digest
    assert there["shortfall_bps_p50"] == here.shortfall_bps_p50
    assert there["simulator_version"] == SIMULATOR_VERSION


def test_different_order_id_gives_different_paths():
    assert run_here("ord-42").digest != run_here("ord-43").digest


def test_summary_is_consistent():
    r = run_here()
    assert r.n_paths == 12 and 0 <= r.n_unfilled < 12
    assert r.shortfall_bps_p5 <= r.shortfall_bps_p50 <= r.shortfall_bps_p95
    assert math.isfinite(r.shortfall_bps_mean)
    assert 0.0 <= r.fill_ratio_min <= r.fill_ratio_p50 <= 1.0


def test_seed_depends_on_version_and_order_only():
    a = seed_sequence_for("x").generate_state(4).tolist()
    assert a == seed_sequence_for("x").generate_state(4).tolist()
    assert a != seed_sequence_for("x", version="other").generate_state(4).tolist()
    assert a != seed_sequence_for("y").generate_state(4).tolist()


def test_passive_and_marketable_policies_differ_in_cost():
    m = illustrative_model()
    order = ParentOrder("cmp", "buy", 2000, 120.0)
    passive = shortfall_monte_carlo(m, order, ExecutionPolicy(participation_cap=0.0), 40, warmup_s=10.0)
    cross = shortfall_monte_carlo(m, order, ExecutionPolicy(order_type="marketable", participation_cap=0.0,
                                                            quote_offset_bps=20.0), 40, warmup_s=10.0)
    # Same seeds, same market flow: crossing the spread must cost more on average than resting.
    assert cross.shortfall_bps_mean > passive.shortfall_bps_mean
    assert cross.fill_ratio_mean >= passive.fill_ratio_mean


def test_thread_count_changes_nothing_but_speed() -> None:
    from simulator.execution import ExecutionPolicy
    from simulator.market.model import illustrative_model
    from simulator.montecarlo import reference_order, shortfall_monte_carlo

    model = illustrative_model()
    order = reference_order(model, "threads-check", "buy", 20.0, 0.01)
    one = shortfall_monte_carlo(model, order, ExecutionPolicy(), 24, warmup_s=5.0, threads=1)
    two = shortfall_monte_carlo(model, order, ExecutionPolicy(), 24, warmup_s=5.0, threads=2)
    assert one == two and one.n_paths == 24
