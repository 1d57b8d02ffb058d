"""The stability-constrained own-age fit (simulator.hawkes.multiscale_age_stable): an own-age model
whose paths explode is refitted into one whose paths do not, the constraint costs nothing where the
truth satisfies it (recovery within 10%), it binds where asked, and a stable fit is left alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AgeModulatedFit, fit_age_modulated
from simulator.hawkes.multiscale_age_sim import AgeFactors, Stability, check_stability, simulate_age
from simulator.hawkes.multiscale_age_stable import _Rows, age_bound, fit_age_stable, stabilise
from simulator.hawkes.multiscale_fit import fit_multiscale

MU = np.array([0.4, 0.3])
ALPHA = np.array([[0.3, 0.1], [0.2, 0.25]])
DECAY = 5.0
EDGES = (0.3, 2.0)
H = np.array([[0.3, 1.6, 1.0], [2.0, 0.7, 1.0]])  # true bound rho(diag(1.6, 2.0) x ALPHA) = 0.74
HORIZON = 40_000.0
Data = tuple[HawkesEvents, AgeModulatedFit, AgeModulatedFit]


@pytest.fixture(scope="module")
def data() -> Data:
    """Events of a stable own-age model, its unconstrained fit, and that fit with row 1's youngest
    factor made 4 times larger: a fitted model whose paths explode (a young factor on a fast
    self-excitation), as the AMZN windows' fits do."""
    p = MultiScaleParams(MU[:, None], np.array([0.0, HORIZON]), ALPHA[:, :, None], np.array([DECAY]))
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(21)))
    ev = simulate_age(p, AgeFactors(H, np.array(EDGES)), HORIZON, gen)
    start = fit_multiscale(ev, n_scales=1, decays=[DECAY], fit_decays=False)
    fit = fit_age_modulated(start.params, ev, EDGES)
    hot = fit.factors.copy()
    hot[1, 0] *= 4.0
    return ev, fit, dataclasses.replace(fit, factors=hot)


def _stability(f: AgeModulatedFit) -> Stability:
    return check_stability(f.base, AgeFactors(f.factors, f.age_edges), 2000.0, seed=3)


def test_the_likelihood_is_the_unconstrained_fits(data: Data) -> None:
    ev, fit, _ = data
    rows = _Rows(fit.base, ev, fit.age_edges)
    x = np.concatenate([np.concatenate([fit.base.baseline[i], fit.base.alpha[i].ravel(), fit.factors[i]])
                        for i in range(2)])
    assert rows.loglik(x)[0] == pytest.approx(fit.loglik, rel=1e-10)


def test_an_exploding_fit_is_refitted_into_a_stable_one_that_recovers_the_truth(data: Data) -> None:
    ev, fit, hot = data
    assert _stability(fit).stable
    assert age_bound(hot.base, hot.factors) > 1.0 and not _stability(hot).stable
    c = fit_age_stable(hot, ev)
    assert age_bound(c.base, c.factors) <= 0.95 + 1e-9
    assert _stability(c).stable
    # the truth satisfies the bound, so the constraint does not bind: the unconstrained optimum again
    assert c.loglik == pytest.approx(fit.loglik, abs=0.05)
    widest = c.factors[:, [2]]
    assert np.max(np.abs(c.factors / widest - H) / H) < 0.10
    assert np.max(np.abs(c.base.baseline[:, 0] * widest[:, 0] - MU) / MU) < 0.10
    assert np.max(np.abs(c.base.alpha[:, :, 0] * widest - ALPHA) / ALPHA) < 0.10
    assert c.n_params == fit.n_params and c.bic == pytest.approx(fit.bic, abs=0.1)


def test_a_binding_constraint_holds_and_costs_likelihood(data: Data) -> None:
    ev, fit, hot = data
    c = fit_age_stable(hot, ev, max_bound=0.5)
    assert age_bound(c.base, c.factors) <= 0.5 + 1e-9
    assert c.loglik < fit.loglik - 1.0
    young = fit_age_stable(hot, ev, max_bound=0.5, n_young=1)  # only the youngest class bounded
    f1 = young.factors[:, :1].max(axis=1)
    assert float(np.max(np.abs(np.linalg.eigvals(f1[:, None] * young.base.branching())))) <= 0.5 + 1e-9
    assert young.loglik > c.loglik  # a looser constraint costs less
    with pytest.raises(ValueError):
        fit_age_stable(hot, ev, max_bound=1.0)
    with pytest.raises(ValueError):
        fit_age_stable(hot, ev, n_young=0)


def test_stabilise_leaves_a_stable_fit_alone_and_climbs_the_ladder_for_an_exploding_one(data: Data) -> None:
    ev, fit, hot = data
    same = stabilise(fit, ev, 2000.0, 3)
    assert same.fit is fit and same.constraint == "" and same.stability.stable
    run = stabilise(hot, ev, 2000.0, 3)
    assert run.constraint == "ages < 300 ms"  # the youngest class is where the explosion is
    assert run.stability.stable and _stability(run.fit).stable
    assert run.fit.loglik == pytest.approx(fit.loglik, abs=0.05)
