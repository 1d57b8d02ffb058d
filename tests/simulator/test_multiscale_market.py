"""The multi-scale flow inside the market model, calibration that chooses it, rolling windows, and
the Binance recording loader: on real data where the project has it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator.calibration import calibrate, load_binance, load_recorded
from simulator.calibration.binance import is_binance_recording
from simulator.calibration.windows import windowed_fits
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.market import MarketModel, illustrative_model, simulate_market
from simulator.market.types import MARKET_BUY, N_DIMS
from tests.support.data import DATA_DIR

AMZN = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
BTC = DATA_DIR / "binance" / "spot_btcusdt_20240808.gz"


def _with_profile(quiet: float = 0.25) -> MarketModel:
    """The illustrative model with a two-bin profile: the first 100 s at ``quiet`` times the rate."""
    base = illustrative_model()
    hp = base.hawkes
    ms = MultiScaleParams.from_hawkes(hp, 200.0)
    prof = np.column_stack([quiet * hp.mu, hp.mu])
    ms = MultiScaleParams(prof, np.array([0.0, 100.0, 200.0]), ms.alpha, ms.decays)
    return dataclasses.replace(base, multiscale=ms)


def test_market_follows_the_profile_and_is_deterministic(tmp_path) -> None:
    m = _with_profile()
    run = simulate_market(m, 200.0, 4, check_every=100)
    assert run.invariant_code == 0
    first = np.count_nonzero(run.times < 100.0)
    second = np.count_nonzero(run.times >= 100.0)
    assert 3.0 < second / first < 5.0  # expected 4 (stationary excitation, baseline x 4)
    assert simulate_market(m, 200.0, 4).digest == run.digest
    # Starting the path in the busy half of the profile makes its first 100 s busy.
    late = simulate_market(dataclasses.replace(m, flow_start_s=100.0), 100.0, 4)
    assert late.stats["events"] > 3.0 * first
    path = tmp_path / "ms.json"
    m.save(path)
    again = MarketModel.load(path)
    assert again.multiscale is not None and m.multiscale is not None
    assert np.array_equal(again.multiscale.baseline, m.multiscale.baseline)
    assert simulate_market(again, 200.0, 4).digest == run.digest
    with pytest.raises(ValueError, match="thinning"):
        simulate_market(m, 10.0, 1, flow="thinning")


def test_default_model_paths_are_unchanged() -> None:
    # No multiscale: the saved form has no new keys, and the path equals the stationary sampler's.
    m = illustrative_model()
    assert "multiscale" not in m.to_dict()
    ms_equiv = dataclasses.replace(m, multiscale=MultiScaleParams.from_hawkes(m.hawkes, 1e6))
    a, b = simulate_market(m, 30.0, 9), simulate_market(ms_equiv, 30.0, 9)
    assert a.stats["events"] > 500
    # Same law, different sampler draw order: the rates agree but the digests need not.
    assert abs(a.stats["events"] - b.stats["events"]) < 6 * np.sqrt(a.stats["events"])


def test_calibrate_select_on_real_amzn_chooses_by_bic() -> None:
    flow = load_recorded([AMZN], end_s=34200 + 900)
    cal = calibrate(flow, flow_model="select", scales=(1, 2), bins=(1, 3))
    assert cal.choice is not None and len(cal.choice.candidates) == 5
    best = min(cal.choice.candidates, key=lambda c: c.bic)
    assert cal.choice.best is best
    if best.n_scales > 0:
        assert cal.model.multiscale is not None and cal.model.metadata["flow_model"] == best.name
        fitted = [d for d in cal.dims if d.fitted]
        assert [d.ks_statistic for d in fitted] == [d.ks_statistic for d in best.goodness.dims]
    run = simulate_market(cal.model, 120.0, 1, check_every=50)
    assert run.invariant_code == 0 and run.stats["events"] > 0
    assert calibrate(flow).model.multiscale is None  # the default is unchanged


def test_binance_recording_loads_as_top_of_book_flow() -> None:
    assert is_binance_recording(BTC) and not is_binance_recording(AMZN)
    flow = load_binance([BTC], max_records=4000)
    assert flow.symbol == "BTCUSDT" and len(flow) > 1000
    counts = flow.counts()
    assert counts[MARKET_BUY] > 20 and counts.shape == (N_DIMS,)
    again = load_recorded([BTC])
    assert len(again) > len(flow) and np.array_equal(again.dims[:100], flow.dims[:100])


def test_windowed_fits_report_both_models_per_window() -> None:
    flow = load_recorded([AMZN], start_s=34200, end_s=34200 + 600)
    wins = windowed_fits(flow, 300.0, scales=(1, 2), bins=(1,))
    assert [(w.start_s, w.end_s) for w in wins] == [(0.0, 300.0), (300.0, 600.0)]
    for w in wins:
        assert len(w.reference_ks) == len(w.chosen_ks) == len(w.dims) >= 6
        assert all(0.0 <= p <= 1.0 for _, p in w.reference_ks + w.chosen_ks)
        assert w.chosen == min(w.candidates, key=lambda c: c[3])[0]
        # the spread-modulated model scales the best multi-scale candidate and is tested the same way
        assert w.state_base.endswith(("bin", "bins")) and len(w.state_ks) == len(w.dims)
        assert w.state_base_bic == min(c[3] for c in w.candidates if c[0] == w.state_base)
        assert w.state_classes >= 2 and len(w.state_factors[0]) == w.state_classes
        assert all(0.0 <= p <= 1.0 for _, p in w.state_ks)
        # BIC picked the spread partition, and then chose among every model, the state ones included
        assert w.state_partition == min(w.state_partition_bic, key=lambda k: w.state_partition_bic[k])
        assert w.state_bic == w.state_partition_bic[w.state_partition]
        variants = {v[0]: v[3] for v in w.age_variants}
        every = {c[0]: c[3] for c in w.candidates} | variants
        every[f"{w.state_base} x spread state ({w.state_partition})"] = w.state_bic
        every[f"{w.state_base} x spread state ({w.state_partition}) x own age"] = w.both_bic
        assert w.all_chosen == min(every, key=lambda k: every[k])
        assert len(w.age_ks) == len(w.dims) and len(w.age_factors[0]) == 8
        by_name = {w.chosen: w.chosen_ks, f"{w.state_base} x spread state ({w.state_partition})": w.state_ks,
                   f"{w.state_base} x spread state ({w.state_partition}) x own age": w.both_ks} | w.age_variant_ks
        assert w.all_ks == by_name[w.all_chosen] and len(w.both_ks) == len(w.dims)
        # the own-age variants: the class model on BIC's base first (runnable, as before), then the
        # curves of degree 1-3, and the same four on AIC's best multi-scale base when it differs
        names = list(variants)
        assert names[0].startswith(f"{w.state_base} x own age") and "curve" not in names[0]
        assert w.age_variant_ks[names[0]] == w.run_age_ks and variants[names[0]] == w.run_age_bic
        assert len(names) in (4, 8) and sum("curve (degree" in n for n in names) == len(names) * 3 // 4
        ks_free = {v[0]: v[1] for v in w.age_variants}
        assert all(ks_free[n] - ks_free[names[0]] == len(w.dims) * (int(n.split("degree ")[1][0]) - 7)
                   for n in names[1:4])
        # among the models the simulator can run: the candidates and the own-age variants, not the state ones
        runnable = {c[0]: c[3] for c in w.candidates} | variants
        assert w.run_chosen == min(runnable, key=lambda k: runnable[k])
        assert w.run_ks == (w.age_variant_ks[w.run_chosen] if w.run_chosen in variants
                            else w.candidate_ks(w.run_chosen))
        aic = {c[0]: 2 * c[1] - 2 * c[2] for c in w.candidates} | {v[0]: v[4] for v in w.age_variants}
        assert w.run_aic_chosen == min(aic, key=lambda k: aic[k])
        # the rule before the curves: the candidates and the class model on BIC's base only
        before = {c[0]: c[3] for c in w.candidates} | {names[0]: w.run_age_bic}
        first = min(before, key=lambda k: before[k])
        assert w.cls_run_ks == (w.run_age_ks if first == names[0] else w.candidate_ks(first))
        assert w.age_choice == min(variants, key=lambda k: variants[k]) and w.age_choice_model is not None
        assert len(w.run_aic_ks) == len(w.dims) and w.age_model is not None
        base, factors = w.age_model
        assert base.dim == len(w.dims) and factors.shape == (len(w.dims), 8)


def test_a_rolling_window_of_binance_calibrates_and_simulates() -> None:
    from simulator.calibration import slice_flow

    flow = load_binance([BTC], max_records=12_000)
    win = slice_flow(flow, 30.0, 90.0)
    assert win.horizon == pytest.approx(60.0) and win.times.min() >= 0.0 and win.times.max() < 60.0
    assert len(win) == int(np.count_nonzero((flow.times >= 30.0) & (flow.times < 90.0)))
    cal = calibrate(win, flow_model="select", scales=(1, 2), bins=(1,))
    run = simulate_market(cal.model, 30.0, 2, check_every=100)
    assert run.invariant_code == 0 and run.stats["events"] > 0
    with pytest.raises(ValueError):
        slice_flow(flow, 5.0, 5.0)
