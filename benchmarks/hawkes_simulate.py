"""Events/s of our Hawkes simulation vs tick's SimuHawkesExpKernels, same model and horizon.

Run: ``.venv/bin/python benchmarks/hawkes_simulate.py``. tick runs in ``benchmarks/.venv-tick``
(created on first use). Both sides simulate the same 8-dimensional model (one exponential per
kernel, as tick supports; the primary model has a different decay per kernel, a secondary one
shares one decay, which favours our grouped-decay thinning) over the same horizon on one core.
JIT compilation is excluded by a warm-up, as tick's C++ is precompiled. Each side runs REPEATS
seeds in interleaved rounds; the median rate is reported. Counts per dimension are compared with
the stationary intensity so that a fast but wrong sampler would show.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hawkes_refenv import run_reference

from simulator.hawkes.params import HawkesParams
from simulator.hawkes.simulate import Method, simulate

D = 8
HORIZON = 100_000.0
REPEATS = 5


def model(shared_decay: float | None = None) -> HawkesParams:
    # Two blocks of four (buy side / sell side), strong self-excitation, weaker cross-excitation,
    # spectral radius 0.7; decays from 2 to 30 per second, different per kernel, unless shared.
    i, j = np.meshgrid(np.arange(D), np.arange(D), indexing="ij")
    alpha = np.where(i == j, 0.28, np.where((i // 4) == (j // 4), 0.08, 0.04))
    alpha = alpha * 0.7 / np.max(np.abs(np.linalg.eigvals(alpha)))
    beta = 2.0 + (3 * i + 5 * j) % 29 if shared_decay is None else np.full((D, D), shared_decay)
    mu = 0.5 + 0.1 * np.arange(D)
    return HawkesParams(np.asarray(mu, dtype=np.float64), np.asarray(alpha, dtype=np.float64),
                        np.asarray(beta, dtype=np.float64))


TICK_CODE = r"""
import json, sys, time
import numpy as np
from tick.hawkes import SimuHawkesExpKernels
p = json.load(sys.stdin)
rates, counts = [], []
for seed in p["seeds"]:
    s = SimuHawkesExpKernels(adjacency=np.array(p["alpha"]), decays=np.array(p["beta"]),
                             baseline=np.array(p["mu"]), end_time=p["horizon"], seed=seed, verbose=False)
    t0 = time.perf_counter()
    s.simulate()
    el = time.perf_counter() - t0
    n = [len(x) for x in s.timestamps]
    rates.append(sum(n) / el)
    counts.append(n)
print(json.dumps({"rates": rates, "counts": counts}))
"""


def ours(p: HawkesParams, method: Method, seed: int) -> tuple[float, list[int]]:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    t0 = time.perf_counter()
    ev = simulate(p, HORIZON, rng, method=method)
    el = time.perf_counter() - t0
    return len(ev) / el, ev.counts().tolist()


def scenario(title: str, p: HawkesParams) -> tuple[float, float, float]:
    """Median events/s of (tick, ours cluster, ours thinning) on one model."""
    expected = p.stationary_intensity() * HORIZON
    print(f"{title}: D={D}, spectral radius {p.spectral_radius():.3f}, "
          f"{len(np.unique(p.beta))} distinct decays in {p.beta.min():g}..{p.beta.max():g}/s, "
          f"horizon {HORIZON:g}s, expected events {expected.sum():,.0f}; load average {os.getloadavg()[0]:.2f}")
    methods: tuple[Method, ...] = ("cluster", "thinning")
    for method in methods:
        simulate(p, 10.0, np.random.default_rng(0), method=method)  # JIT warm-up
    payload = {"mu": p.mu.tolist(), "alpha": p.alpha.tolist(), "beta": p.beta.tolist(), "horizon": HORIZON}
    names = ["tick SimuHawkesExpKernels", *(f"ours ({m})" for m in methods)]
    results: dict[str, tuple[list[float], list[list[int]]]] = {n: ([], []) for n in names}
    # Interleaved rounds (tick, ours, ours) so that load from other processes on this shared
    # machine falls on both sides alike rather than on whichever ran during a busy spell.
    for r in range(REPEATS):
        tick = run_reference("tick", TICK_CODE, {**payload, "seeds": [r + 1]})
        results[names[0]][0].append(float(tick["rates"][0]))
        results[names[0]][1].append(tick["counts"][0])
        for name, method in zip(names[1:], methods, strict=True):
            rate, run_counts = ours(p, method, r)
            results[name][0].append(rate)
            results[name][1].append(run_counts)
    for name, (rates, counts) in results.items():
        mean_counts = np.mean(np.asarray(counts, dtype=float), axis=0)
        dev = np.max(np.abs(mean_counts / expected - 1.0))
        print(f"  {name:28s} median {statistics.median(rates):>12,.0f} events/s  "
              f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); "
              f"max |mean count / stationary - 1| = {dev:.3f}")
    ref_rate, ours_rate, thin_rate = (statistics.median(results[n][0]) for n in names)
    print(f"  ratio ours(cluster)/tick = {ours_rate / ref_rate:.2f}; ours(thinning)/tick = {thin_rate / ref_rate:.2f}")
    return ref_rate, ours_rate, thin_rate


def main() -> None:
    scenario("secondary model (one decay shared by all kernels, 10/s)", model(10.0))
    ref_rate, ours_rate, _ = scenario("primary model (a decay per kernel)", model())
    print(json.dumps({"name": "hawkes_simulate_8d", "ours": round(ours_rate), "reference": round(ref_rate),
                      "ratio": round(ours_rate / ref_rate, 3), "unit": "events/s"}))


if __name__ == "__main__":
    main()
