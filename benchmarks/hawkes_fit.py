"""Fit time and worst relative parameter error: our MLE vs a maintained reference MLE, same data.

Run: ``.venv/bin/python benchmarks/hawkes_fit.py`` (``--multiscale`` for the multi-scale part alone).

Reference: tick's ``HawkesExpKern`` given the true decays is tried first; with tick 0.8.0.2 on
Python 3.11 its learners fail to construct (the script shows the error), so the reference is
intensify's ``MultivariateHawkes`` MLE (Rust likelihood and gradient driven by scipy L-BFGS-B),
in ``benchmarks/.venv-intensify``. intensify's fast path needs one decay shared by all kernels and
given (its free-decay path is O(N^2) per evaluation, unusable at 10^5 events), so the model has a
shared decay and intensify is handed the true value, like tick would be. Ours is NOT told the
decay: it estimates all D*D decays as well, so it solves a strictly harder problem.

Both fits start from no knowledge of the truth (intensify from its documented style of generic
start; ours from its multi-start), JIT compilation is excluded by a warm-up fit on other data,
and each fit call is timed whole (ours includes its goodness-of-fit report).

Multi-scale part (``--multiscale``, also run at the end of the full script): 100,000 events of a
10-dimensional model with a piecewise baseline (4 bins) and kernels mixing three time scales
(0.35 ms, 14 ms, 0.7 s), fitted from no knowledge of the decays by ``fit_multiscale``; the
reference is the issue's goal of 30 s on this machine, and the errors against the truth are
printed (decays, baselines, the branching weights >= 0.05 and the largest weight fitted where the
truth is zero).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hawkes_refenv import run_reference

from simulator.hawkes.fit import fit
from simulator.hawkes.multiscale import MultiScaleParams, simulate_multiscale
from simulator.hawkes.multiscale_fit import fit_multiscale
from simulator.hawkes.params import HawkesParams
from simulator.hawkes.simulate import simulate_n

N_EVENTS = 100_000
N_SEEDS = 5
SEED = 20261126
MU = np.array([3.0, 2.5, 3.5, 3.0])
ALPHA = np.array([
    [0.19, 0.16, 0.17, 0.15],
    [0.16, 0.19, 0.15, 0.17],
    [0.17, 0.15, 0.19, 0.16],
    [0.15, 0.17, 0.16, 0.19],
])
BETA = 1000.0  # one shared decay (1 ms), so the reference's fast path applies

TICK_CODE = r"""
import json, sys
import numpy as np
try:
    from tick.hawkes import HawkesExpKern
    learner = HawkesExpKern(decays=np.full((4, 4), 1000.0))
    print(json.dumps({"ok": True}))
except Exception as e:
    print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
"""

INTENSIFY_CODE = r"""
import json, sys, time, warnings
import numpy as np
from intensify import ExponentialKernel, MultivariateHawkes
p = json.load(sys.stdin)
out = []
for k, path in enumerate(p["paths"]):
    d = np.load(path)
    times, dims, horizon, D = d["times"], d["dims"], float(d["horizon"]), int(d["dim"])
    events = [times[dims == i] for i in range(D)]
    def make():
        rate = np.array([len(e) for e in events]) / horizon
        kernels = [[ExponentialKernel(alpha=0.5 / D, beta=p["beta"]) for _ in range(D)] for _ in range(D)]
        return MultivariateHawkes(n_dims=D, mu=0.5 * rate, kernel=kernels)
    if k == 0:  # warm-up on a prefix (loads the extension, first-call costs)
        cut = times[len(times) // 20]
        make().fit([e[e < cut] for e in events], T=float(cut), fit_decay=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proc = make()
        t0 = time.perf_counter()
        res = proc.fit(events, T=horizon, fit_decay=False)
        el = time.perf_counter() - t0
    alpha = [[proc.kernel_matrix[i][j].alpha for j in range(D)] for i in range(D)]
    out.append({"seconds": el, "mu": np.asarray(proc.mu, dtype=float).tolist(), "alpha": alpha,
                "loglik": float(res.log_likelihood), "iterations": int(res.convergence_info["iterations"]),
                "success": bool(res.convergence_info["success"]), "warnings": [str(w.message) for w in caught]})
print(json.dumps({"fits": out}))
"""


MS_GOAL_S = 30.0


def multiscale_model() -> MultiScaleParams:
    d, k = 10, 3
    alpha = np.zeros((d, d, k))
    for i in range(d):
        alpha[i, i] = [0.20, 0.10, 0.08]
        alpha[i, (i + 1) % d] = [0.10, 0.05, 0.0]
        alpha[i, (i + 5) % d] = [0.0, 0.06, 0.04]
    base = np.outer(np.linspace(1.5, 0.8, d), [1.6, 0.8, 0.7, 1.3])
    return MultiScaleParams(base, np.linspace(0.0, 3000.0, 5), alpha, np.array([2000.0, 50.0, 1.0]))


def multiscale_benchmark() -> None:
    truth = multiscale_model()
    ev = simulate_multiscale(truth, truth.period, np.random.default_rng(np.random.SeedSequence(SEED)))
    ev = ev.truncate(N_EVENTS)
    fit_multiscale(simulate_multiscale(truth, 100.0, np.random.default_rng(1)), n_scales=3, n_bins=4)  # JIT
    print(f"multi-scale: 10-d, 3 decays (2000, 50, 1 /s), 4 baseline bins, spectral radius "
          f"{truth.spectral_radius():.2f}; {len(ev):,} events over {ev.horizon:.0f} s")
    edges = np.append(truth.edges[truth.edges < ev.horizon], ev.horizon)  # the last bin ends at the N-th event
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = fit_multiscale(ev, n_scales=3, edges=edges.tolist())
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    p = res.params
    main = truth.alpha >= 0.05
    print(f"fit {el:.2f} s wall, {cpu:.2f} s CPU (load average {load:.1f} on {os.cpu_count()} cores at the start; "
          f"converged {res.converged}, {res.n_outer} decay evaluations); worst relative "
          f"error: decays {rel_err(p.decays, truth.decays):.4f}, baselines "
          f"{rel_err(p.baseline, truth.baseline):.4f}, weights >= 0.05 "
          f"{rel_err(p.alpha[main], truth.alpha[main]):.4f} (median "
          f"{float(np.median(np.abs(p.alpha[main] / truth.alpha[main] - 1))):.4f}); largest weight "
          f"where the truth is 0: {float(p.alpha[~main].max()):.4f}; min KS p "
          f"{res.goodness.min_pvalue():.3f}")
    print(json.dumps({"name": "hawkes_fit_multiscale_10d_100k", "ours": round(el, 3), "reference": MS_GOAL_S,
                      "ratio": round(el / MS_GOAL_S, 3), "unit": "s (reference: the 30 s goal)"}))


def rel_err(est: np.ndarray, true: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(est) / true - 1.0)))


def main() -> None:
    if "--multiscale" in sys.argv[1:]:
        multiscale_benchmark()
        return
    truth = HawkesParams(MU, ALPHA, np.full((4, 4), BETA))
    print(f"model: 4-d, spectral radius {truth.spectral_radius():.2f}, shared decay {BETA:g}/s; "
          f"{N_SEEDS} data sets of {N_EVENTS:,} events (seeds {SEED}+k)")
    tick = run_reference("tick", TICK_CODE, {})
    if tick["ok"]:
        raise SystemExit("tick's HawkesExpKern constructs here: this script should be extended to use it")
    print(f"tick HawkesExpKern: cannot construct ({tick['error']}); reference = intensify MultivariateHawkes MLE")

    data = [simulate_n(truth, N_EVENTS, np.random.default_rng(np.random.SeedSequence(SEED + k)))
            for k in range(N_SEEDS)]
    fit(simulate_n(truth, 5_000, np.random.default_rng(1)))  # JIT warm-up on other data
    tmp_dir = Path(tempfile.mkdtemp(prefix="hawkes_fit_"))
    rows = []
    ref_times: dict[str, list[float]] = {"as installed": [], "OPENBLAS_NUM_THREADS=1": []}
    try:
        for k, ev in enumerate(data):
            path = tmp_dir / f"data{k}.npz"
            np.savez(path, times=ev.times, dims=ev.dims, horizon=ev.horizon, dim=ev.dim)
            # Per data set, interleaved with ours, so load from other processes on this shared
            # machine falls on both sides alike. intensify drives scipy's L-BFGS-B, whose tiny BLAS
            # calls are slowed by OpenBLAS's thread pool on 2 cores (ours pins it to one thread
            # while fitting); it runs both as installed and with OPENBLAS_NUM_THREADS=1 and the
            # faster of the two is the reference.
            runs = {
                "as installed": run_reference("intensify", INTENSIFY_CODE, {"paths": [str(path)], "beta": BETA}),
                "OPENBLAS_NUM_THREADS=1": run_reference("intensify", INTENSIFY_CODE,
                                                        {"paths": [str(path)], "beta": BETA},
                                                        env={"OPENBLAS_NUM_THREADS": "1"}),
            }
            for key, r in runs.items():
                ref_times[key].append(float(r["fits"][0]["seconds"]))
            ref = min((r["fits"][0] for r in runs.values()), key=lambda f: float(f["seconds"]))
            t0 = time.perf_counter()
            ours = fit(ev)
            t_ours = time.perf_counter() - t0
            generic = HawkesParams(np.asarray(0.5 * ev.counts() / ev.horizon, dtype=np.float64),
                                   np.full((4, 4), 0.5 / 4), truth.beta)
            t0 = time.perf_counter()
            given = fit(ev, init=generic, fit_decays=False)
            t_given = time.perf_counter() - t0
            e_ref = max(rel_err(np.asarray(ref["mu"]), MU), rel_err(np.asarray(ref["alpha"]), ALPHA))
            e_ours = max(rel_err(ours.params.mu, MU), rel_err(ours.params.alpha, ALPHA))
            e_beta = rel_err(ours.params.beta, truth.beta)
            e_given = max(rel_err(given.params.mu, MU), rel_err(given.params.alpha, ALPHA))
            rows.append((t_ours, float(ref["seconds"]), t_given, e_ours, e_beta, e_ref, e_given))
            print(f"seed {SEED + k}: ours {t_ours:.3f} s worst err mu+alpha {e_ours:.4f}, decays {e_beta:.4f} "
                  f"(converged {ours.converged}, {ours.n_iter} it, radius {ours.spectral_radius:.3f}, "
                  f"min KS p {ours.goodness.min_pvalue():.3f}) | intensify {float(ref['seconds']):.3f} s "
                  f"err {e_ref:.4f} ({ref['iterations']} it, success {ref['success']}) | "
                  f"ours decay-given {t_given:.3f} s err {e_given:.4f}")
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    print("intensify median fit time: " + ", ".join(f"{statistics.median(v):.3f} s {k}" for k, v in ref_times.items()))
    a = np.array(rows)
    t_ours, t_ref, t_given = (float(np.median(a[:, c])) for c in (0, 1, 2))
    e_ours, e_beta, e_ref, e_given = (float(np.median(a[:, c])) for c in (3, 4, 5, 6))
    n_no_worse = int(np.sum(a[:, 3] <= a[:, 5]))
    print(f"median fit time: ours (decays estimated) {t_ours:.3f} s, intensify (decay given) {t_ref:.3f} s, "
          f"ours (decay given) {t_given:.3f} s")
    print(f"median worst relative error over mu+alpha: ours {e_ours:.4f}, intensify {e_ref:.4f}, "
          f"ours decay-given {e_given:.4f}; ours (decays estimated) also worst decay error {e_beta:.4f}")
    verdict = "no worse" if e_ours <= e_ref else "WORSE"
    print(f"our error is {verdict} than the reference's (median {e_ours:.4f} vs {e_ref:.4f}; "
          f"no worse on {n_no_worse} of {N_SEEDS} data sets) while also estimating the 16 decays")
    print(f"time ratio ours/reference = {t_ours / t_ref:.2f}")
    print(json.dumps({"name": "hawkes_fit_4d_100k", "ours": round(t_ours, 3), "reference": round(t_ref, 3),
                      "ratio": round(t_ours / t_ref, 3), "unit": "s"}))
    multiscale_benchmark()


if __name__ == "__main__":
    main()
