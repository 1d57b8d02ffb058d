"""Multi-scale, time-varying-baseline Hawkes: likelihood agrees with the stationary model on its
special case, the sampler follows the baseline profile, the fit recovers the truth, the
information criterion picks the true structure, and paths are reproducible across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.likelihood import loglik
from simulator.hawkes.multiscale import MultiScaleParams, goodness_multiscale, simulate_multiscale
from simulator.hawkes.multiscale_fit import MultiScaleFit, fit_multiscale, loglik_multiscale, select_model
from simulator.hawkes.params import HawkesParams

REPO = Path(__file__).resolve().parents[2]
SEED = 20261201

# Two dimensions, a millisecond and a 200 ms scale, a baseline that halves and recovers
# over four bins (an intraday-like U shape), spectral radius 0.57.
T = 16000.0
BASE = np.array([[4.0, 2.0, 1.0, 3.0], [3.0, 1.5, 1.0, 2.5]])
EDGES = np.linspace(0.0, T, 5)
ALPHA = np.zeros((2, 2, 2))
ALPHA[:, :, 0] = [[0.25, 0.10], [0.12, 0.20]]
ALPHA[:, :, 1] = [[0.15, 0.08], [0.06, 0.20]]
DECAYS = np.array([1000.0, 5.0])
TRUE = MultiScaleParams(BASE, EDGES, ALPHA, DECAYS)


@pytest.fixture(scope="module")
def data() -> HawkesEvents:
    return simulate_multiscale(TRUE, T, np.random.default_rng(np.random.SeedSequence(SEED)))


@pytest.fixture(scope="module")
def fitted(data: HawkesEvents) -> MultiScaleFit:
    return fit_multiscale(data, n_scales=2, n_bins=4)


def test_loglik_matches_stationary_model_on_its_special_case() -> None:
    # Per-pair decays map to one scale per distinct decay; the two likelihoods must agree exactly.
    hp = HawkesParams(np.array([0.8, 0.5]), np.array([[0.3, 0.1], [0.2, 0.25]]),
                      np.array([[4.0, 9.0], [9.0, 3.0]]))
    ev = simulate_multiscale(MultiScaleParams.from_hawkes(hp, 500.0), 500.0, np.random.default_rng(3))
    assert len(ev) > 500
    ms = MultiScaleParams.from_hawkes(hp, 500.0)
    assert ms.n_scales == 3
    assert loglik_multiscale(ms, ev) == pytest.approx(loglik(hp, ev), rel=1e-10)


def test_sampler_follows_the_baseline_profile() -> None:
    # Without excitation the counts per bin are Poisson(baseline x length): check every bin at 4 sd,
    # over two periods and from a start in the middle of the profile.
    p = MultiScaleParams(BASE, EDGES / 8.0, np.zeros((2, 2, 1)), np.array([1.0]))
    ev = simulate_multiscale(p, 2 * p.period, np.random.default_rng(5), start=p.period / 2)
    per = p.period / 4
    shift = np.array([2, 3, 0, 1, 2, 3, 0, 1])  # bin of the profile each of the 8 windows reads
    for i in range(2):
        c, _ = np.histogram(ev.times[ev.dims == i], bins=np.arange(9) * per)
        expect = BASE[i, shift] * per
        assert np.all(np.abs(c - expect) < 4 * np.sqrt(expect)), (c, expect)


def test_true_model_passes_ks_and_mean_rates(data: HawkesEvents) -> None:
    gof = goodness_multiscale(TRUE, data)
    for d in gof.dims:
        assert d.ks_pvalue > 0.01
        assert d.model_rate == pytest.approx(d.empirical_rate, rel=0.05)


def test_recovers_baselines_weights_and_decays_within_10_percent(data: HawkesEvents, fitted: MultiScaleFit) -> None:
    assert len(data) > 60_000
    assert fitted.converged, fitted.message
    p = fitted.params
    errs = {"decays": np.abs(p.decays / DECAYS - 1), "baseline": np.abs(p.baseline / BASE - 1),
            "alpha": np.abs(p.alpha / ALPHA - 1)}
    for name, e in errs.items():
        assert np.all(e < 0.10), f"{name} relative errors:\n{np.round(e, 3)}"
    assert all(d.ks_pvalue > 0.01 for d in fitted.goodness.dims)


def test_fixed_decays_is_convex_and_agrees(data: HawkesEvents, fitted: MultiScaleFit) -> None:
    # Given the fitted decays, the convex fit from its own start must land on the same optimum.
    again = fit_multiscale(data, n_bins=4, decays=fitted.params.decays, fit_decays=False)
    assert again.loglik == pytest.approx(fitted.loglik, abs=1e-3 * len(data) * 1e-3)
    assert np.allclose(again.params.alpha, fitted.params.alpha, atol=2e-3)


def test_information_criterion_picks_the_true_structure() -> None:
    ev = simulate_multiscale(TRUE, T / 2, np.random.default_rng(np.random.SeedSequence(SEED + 1)))
    choice = select_model(ev, scales=(1, 2), bins=(1, 2), include_exp_per_pair=True)
    assert choice.best.n_scales == 2 and choice.best.n_bins == 2, [(c.name, c.bic) for c in choice.candidates]
    assert {c.name for c in choice.candidates} >= {"exp per pair, constant baseline", "2 scales, 2 baseline bins"}
    # BIC is -2 loglik + p log n; the candidate list is complete and consistent.
    for c in choice.candidates:
        assert c.bic == pytest.approx(c.n_params * np.log(len(ev)) - 2 * c.loglik)


def test_stationarity_is_enforced() -> None:
    # Data from a nearly critical model with a short window: the fit must stay below the bound.
    hot = MultiScaleParams(np.array([[0.5], [0.5]]), np.array([0.0, 400.0]),
                           np.array([[[0.6], [0.35]], [[0.35], [0.6]]]), np.array([5.0]))
    ev = simulate_multiscale(hot, 400.0, np.random.default_rng(11))
    f = fit_multiscale(ev, n_scales=1, max_spectral_radius=0.9)
    assert f.spectral_radius <= 0.9 + 1e-3


_DIGEST = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from tests.simulator.test_hawkes_multiscale import TRUE
from simulator.hawkes.multiscale import simulate_multiscale
ev = simulate_multiscale(TRUE, 300.0, np.random.default_rng(np.random.SeedSequence(int(sys.argv[1]))), start=1000.0)
print(ev.digest())
"""


def test_digest_identical_across_processes() -> None:
    def run(seed: int) -> str:
        out = subprocess.run([sys.executable, "-c", _DIGEST, str(seed), str(REPO)], capture_output=True, text=True,
                             check=True, cwd=REPO)
        return out.stdout.strip()

    here = simulate_multiscale(TRUE, 300.0, np.random.default_rng(np.random.SeedSequence(7)), start=1000.0).digest()
    assert run(7) == here
    assert run(8) != here
