"""Stylized facts, real vs simulated, with a tolerance per fact: the table of ``docs/validation.md``.

Each fact is computed the same way for the recorded day and for a simulated path of the same
length, and judged against a tolerance fixed here in advance (not tuned to the result): a fact
"holds" when the simulated value is within it. Why these facts: they are the ones execution cost
depends on (spread: the price of crossing; inter-arrivals and count correlation: how bursty the
flow is and for how long; trade-sign persistence: how predictable the next trade is; volatility
signature: how much of short-horizon price motion is bounce that reverts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.market.types import MARKET_BUY, MARKET_SELL

COUNT_BIN_S = 10.0
SIGNATURE_S = (1.0, 10.0, 60.0, 300.0)


def acf(x: NDArray[Any], max_lag: int) -> NDArray[np.float64]:
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    denom = float(np.dot(x, x))
    if denom == 0 or x.size <= max_lag:
        return np.full(max_lag, np.nan)
    return np.array([np.dot(x[:-k], x[k:]) / denom for k in range(1, max_lag + 1)])


def signature(times: NDArray[np.float64], mids: NDArray[np.float64], horizon: float) -> dict[float, float]:
    """Mid-price return variance per second, sampled every ``s`` seconds (previous-tick mid)."""
    ok = np.isfinite(mids) & (mids > 0)
    t, m = times[ok], np.log(mids[ok])
    out = {}
    for s in SIGNATURE_S:
        grid = np.arange(0.0, horizon, s)
        k = np.searchsorted(t, grid, side="right") - 1
        path = m[np.clip(k, 0, None)][k >= 0]
        r = np.diff(path)
        out[s] = float(np.mean(r * r) / s) if r.size > 1 else float("nan")
    return out


@dataclass
class Facts:
    values: dict[str, float]


def compute_facts(times: NDArray[np.float64], dims: NDArray[np.int64], spreads: NDArray[np.int64],
                  mids: NDArray[np.float64], horizon: float) -> Facts:
    ia = np.diff(times)
    counts, _ = np.histogram(times, bins=np.arange(0.0, horizon + COUNT_BIN_S, COUNT_BIN_S))
    c_acf = acf(counts.astype(float), 30)
    trades = (dims == MARKET_BUY) | (dims == MARKET_SELL)
    s_acf = acf(np.where(dims[trades] == MARKET_BUY, 1.0, -1.0), 10)
    sp = spreads[spreads > 0]
    sig = signature(times, mids, horizon)
    return Facts({
        "spread median (ticks)": float(np.median(sp)),
        "spread p95 (ticks)": float(np.percentile(sp, 95)),
        "one-tick spreads (share)": float(np.mean(sp == 1)),
        "inter-arrival median (ms)": float(np.median(ia) * 1e3),
        "inter-arrival coefficient of variation": float(np.std(ia) / np.mean(ia)),
        "inter-arrivals < 1 ms (share)": float(np.mean(ia < 1e-3)),
        "trade-sign ACF lag 1": float(s_acf[0]),
        "trade-sign ACF lag 10": float(s_acf[9]),
        "volatility over 5 min (bps)": float(np.sqrt(sig[300.0] * 300.0) * 1e4),
        "volatility signature: variance rate 1 s / 300 s": float(sig[1.0] / sig[300.0]),
        "count ACF, lag 10 s": float(c_acf[0]),
        "count ACF, mean over lags 30-300 s": float(np.nanmean(c_acf[2:])),
    })


# (kind, tolerance): "abs" |sim - real| <= tol; "rel" |sim / real - 1| <= tol.
TOLERANCES: dict[str, tuple[str, float]] = {
    "spread median (ticks)": ("abs", 2.0),
    "spread p95 (ticks)": ("rel", 0.5),
    "one-tick spreads (share)": ("abs", 0.05),
    "inter-arrival median (ms)": ("rel", 0.5),
    "inter-arrival coefficient of variation": ("rel", 0.2),
    "inter-arrivals < 1 ms (share)": ("abs", 0.05),
    "trade-sign ACF lag 1": ("abs", 0.1),
    "trade-sign ACF lag 10": ("abs", 0.05),
    "volatility over 5 min (bps)": ("rel", 0.5),
    "volatility signature: variance rate 1 s / 300 s": ("rel", 0.5),
    "count ACF, lag 10 s": ("abs", 0.1),
    "count ACF, mean over lags 30-300 s": ("abs", 0.05),
}


def holds(name: str, real: float, sim: float) -> bool:
    kind, tol = TOLERANCES[name]
    if not (np.isfinite(real) and np.isfinite(sim)):
        return False
    return abs(sim - real) <= tol if kind == "abs" else abs(sim / real - 1.0) <= tol


def facts_table(real: Facts, sims: dict[str, Facts]) -> tuple[str, dict[str, int]]:
    """Markdown table (real, each simulation with a held/missed mark) and facts held per simulation."""
    head = "| fact | tolerance | real | " + " | ".join(sims) + " |"
    rows = [head, "|---|---|---:|" + "---:|" * len(sims)]
    held = dict.fromkeys(sims, 0)
    for name, (kind, tol) in TOLERANCES.items():
        r = real.values[name]
        cells = []
        for label, f in sims.items():
            ok = holds(name, r, f.values[name])
            held[label] += ok
            cells.append(f"{f.values[name]:.3g} {'(holds)' if ok else '(**misses**)'}")
        tol_s = f"+/- {tol:g}" if kind == "abs" else f"+/- {100 * tol:.0f}%"
        rows.append(f"| {name} | {tol_s} | {r:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(rows), held
