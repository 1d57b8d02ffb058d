"""Writes ``docs/validation.md`` and its figures: the simulator fitted to real LOBSTER data.

    python -m simulator.validation_report [--data data] [--seed 20120621]

Fits the ten-dimensional market model to the LOBSTER AMZN day (and the 998-message AAPL level-10
sample, the only one with deep-book flow), reports the time-rescaling KS test per dimension, then
simulates the fitted AMZN model over the same six and a half hours and sets four stylized facts
side by side with the real day. Every number in the document comes from this run; nothing is
typed in by hand, so re-running it is the way to update the report.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray

from simulator.calibration import Calibration, RecordedFlow, calibrate, load_recorded
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.goodness import residuals
from simulator.market.run import MarketRun, simulate_market
from simulator.market.types import DIM_NAMES, MARKET_BUY, MARKET_SELL
from simulator.version import SIMULATOR_VERSION

ROOT = Path(__file__).resolve().parents[1]
AMZN = "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv"
AAPL = "lobster/AAPL_2012-06-21_34200000_57600000_message_10_first998.csv"
COUNT_BIN_S = 10.0
MAX_LAG = 50


@dataclass
class Facts:
    """Stylized facts of one event stream (real or simulated), computed the same way for both."""

    inter_arrival: NDArray[np.float64]
    count_acf: NDArray[np.float64]
    spreads: NDArray[np.int64]
    sign_acf: NDArray[np.float64]
    n_events: int
    n_trades: int


def acf(x: NDArray[np.float64], max_lag: int) -> NDArray[np.float64]:
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    denom = float(np.dot(x, x))
    if denom == 0 or x.size <= max_lag:
        return np.full(max_lag, np.nan)
    return np.array([np.dot(x[:-k], x[k:]) / denom for k in range(1, max_lag + 1)])


def facts(times: NDArray[np.float64], dims: NDArray[np.int64], spreads: NDArray[np.int64],
          horizon: float) -> Facts:
    counts, _ = np.histogram(times, bins=np.arange(0.0, horizon + COUNT_BIN_S, COUNT_BIN_S))
    trades = (dims == MARKET_BUY) | (dims == MARKET_SELL)
    signs = np.where(dims[trades] == MARKET_BUY, 1.0, -1.0)
    return Facts(np.diff(times), acf(counts.astype(float), MAX_LAG), spreads[spreads > 0],
                 acf(signs, MAX_LAG), int(times.size), int(trades.sum()))


def real_facts(flow: RecordedFlow) -> Facts:
    return facts(flow.times, flow.dims, flow.spreads, flow.horizon)


def sim_facts(run: MarketRun, horizon: float) -> Facts:
    # The real spread is sampled before each message; sample the simulated one the same way
    # (the touch after event k-1 is the book event k meets).
    spreads = np.diff(run.records[:, 3:5], axis=1)[:, 0]
    before = np.concatenate([[spreads[0]], spreads[:-1]]) if spreads.size else spreads
    return facts(run.times, run.records[:, 0], before, horizon)


def ks_table(cal: Calibration) -> str:
    lines = ["| dimension | events | KS statistic | p-value | rate data (1/s) | rate model (1/s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for d in cal.dims:
        if d.fitted:
            lines.append(f"| {d.name} | {d.n_events} | {d.ks_statistic:.4f} | {d.ks_pvalue:.2e} | "
                         f"{d.empirical_rate:.4f} | {d.model_rate:.4f} |")
        else:
            lines.append(f"| {d.name} | {d.n_events} | not fitted: no events | - | 0 | - |")
    return "\n".join(lines)


def _fastest_kernels(cal: Calibration, k: int = 3) -> str:
    hp = cal.model.hawkes
    pairs = sorted(((float(np.log(2) / hp.beta[i, j]), float(hp.alpha[i, j]), DIM_NAMES[i], DIM_NAMES[j])
                    for i in cal.active for j in cal.active if hp.alpha[i, j] > 0.05), key=lambda p: p[0])[:k]
    items = "; ".join(f"{c} after {p}: half-life {h * 1e3:.2f} ms, branching {a:.2f}" for h, a, c, p in pairs)
    return (f"The fastest kernels with a branching ratio above 0.05 are sub-millisecond ({items}): "
            "cancel-and-repost (an order modification appears as a cancel and a new order microseconds "
            "apart) and other participants joining a newly improved quote: machine reactions. Their "
            f"half-lives are {pairs[0][0] * 1e6:.0f}-{pairs[-1][0] * 1e6:.0f} us, well above the 1 us "
            "spacing given to tied events, so the spacing does not produce them.")


def plot_ks(cal: Calibration, flow: RecordedFlow, path: Path, title: str) -> None:
    """QQ plot of time-rescaled residuals against Exp(1), one panel per fitted dimension."""
    keep = np.isin(flow.dims, cal.active)
    remap = np.full(len(DIM_NAMES), -1)
    remap[cal.active] = np.arange(len(cal.active))
    events = HawkesEvents(flow.times[keep], remap[flow.dims[keep]], flow.horizon, len(cal.active))
    res = residuals(cal.fit.params, events)
    n = len(cal.active)
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for k, i in enumerate(cal.active):
        ax = axes[k // cols][k % cols]
        r = np.sort(res[k])
        q = -np.log(1 - (np.arange(1, r.size + 1) - 0.5) / r.size)
        ax.plot(q, r, ".", ms=2)
        lim = max(q.max(), r.max())
        ax.plot([0, lim], [0, lim], "k--", lw=0.8)
        d = cal.dims[i]
        ax.set_title(f"{DIM_NAMES[i]}\nKS {d.ks_statistic:.3f}", fontsize=8)
        ax.set_xlabel("Exp(1) quantile", fontsize=7)
        ax.set_ylabel("residual", fontsize=7)
        ax.tick_params(labelsize=6)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_facts(real: Facts, sim: Facts, path: Path) -> None:
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    # Inter-arrival: survival function on log-log axes (heavy tails show as straight-ish lines).
    for f, lab in ((real, "real"), (sim, "simulated")):
        x = np.sort(f.inter_arrival[f.inter_arrival > 0])
        sf = 1.0 - np.arange(x.size) / x.size
        ax[0, 0].loglog(x, sf, label=lab)
    rate = real.n_events / max(real.inter_arrival.sum(), 1e-12)
    xs = np.logspace(-6, 3, 200)
    ax[0, 0].loglog(xs, np.exp(-rate * xs), "k:", label="Poisson, same rate")
    ax[0, 0].set_ylim(1e-5, 1.1)
    ax[0, 0].set_title("inter-arrival times, all events (survival)")
    ax[0, 0].set_xlabel("seconds")
    ax[0, 0].legend()
    lags = np.arange(1, MAX_LAG + 1)
    ax[0, 1].plot(lags * COUNT_BIN_S, real.count_acf, "o-", ms=3, label="real")
    ax[0, 1].plot(lags * COUNT_BIN_S, sim.count_acf, "s-", ms=3, label="simulated")
    ax[0, 1].axhline(0, color="k", lw=0.5)
    ax[0, 1].set_title(f"autocorrelation of event counts in {COUNT_BIN_S:.0f} s bins")
    ax[0, 1].set_xlabel("lag (s)")
    ax[0, 1].legend()
    hi = int(max(np.percentile(real.spreads, 99.5), np.percentile(sim.spreads, 99.5))) + 1
    bins = np.arange(0.5, hi + 1.5)
    ax[1, 0].hist(real.spreads, bins=bins, density=True, alpha=0.5, label="real")
    ax[1, 0].hist(sim.spreads, bins=bins, density=True, alpha=0.5, label="simulated")
    ax[1, 0].set_title("spread before each event (ticks)")
    ax[1, 0].legend()
    ax[1, 1].plot(lags, real.sign_acf, "o-", ms=3, label="real")
    ax[1, 1].plot(lags, sim.sign_acf, "s-", ms=3, label="simulated")
    ax[1, 1].axhline(0, color="k", lw=0.5)
    ax[1, 1].set_xscale("log")
    ax[1, 1].set_title("trade-sign autocorrelation (market orders)")
    ax[1, 1].set_xlabel("lag (trades)")
    ax[1, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_rows(real: Facts, sim: Facts) -> str:
    def q(a: NDArray[Any], p: float) -> float:
        return float(np.percentile(a, p)) if a.size else float("nan")

    def cv(a: NDArray[Any]) -> float:
        return float(np.std(a) / np.mean(a)) if a.size else float("nan")

    rows = [
        ("events", f"{real.n_events}", f"{sim.n_events}"),
        ("market orders", f"{real.n_trades}", f"{sim.n_trades}"),
        ("inter-arrival median (s)", f"{q(real.inter_arrival, 50):.4f}", f"{q(sim.inter_arrival, 50):.4f}"),
        ("inter-arrival coefficient of variation (Poisson = 1)", f"{cv(real.inter_arrival):.2f}",
         f"{cv(sim.inter_arrival):.2f}"),
        ("share of inter-arrivals < 1 ms", f"{np.mean(real.inter_arrival < 1e-3):.3f}",
         f"{np.mean(sim.inter_arrival < 1e-3):.3f}"),
        (f"count ACF, lag {COUNT_BIN_S:.0f} s", f"{real.count_acf[0]:.3f}", f"{sim.count_acf[0]:.3f}"),
        (f"count ACF, mean over lags {10 * COUNT_BIN_S:.0f}-{MAX_LAG * COUNT_BIN_S:.0f} s",
         f"{np.mean(real.count_acf[9:]):.3f}", f"{np.mean(sim.count_acf[9:]):.3f}"),
        ("spread median (ticks)", f"{q(real.spreads, 50):.0f}", f"{q(sim.spreads, 50):.0f}"),
        ("spread p5 / p95 (ticks)", f"{q(real.spreads, 5):.0f} / {q(real.spreads, 95):.0f}",
         f"{q(sim.spreads, 5):.0f} / {q(sim.spreads, 95):.0f}"),
        ("one-tick spreads (share)", f"{np.mean(real.spreads == 1):.3f}", f"{np.mean(sim.spreads == 1):.3f}"),
        ("trade-sign ACF lag 1", f"{real.sign_acf[0]:.3f}", f"{sim.sign_acf[0]:.3f}"),
        ("trade-sign ACF lag 10", f"{real.sign_acf[9]:.3f}", f"{sim.sign_acf[9]:.3f}"),
    ]
    out = ["| statistic | real AMZN | simulated |", "|---|---:|---:|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--seed", type=int, default=20120621)
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    img = args.docs / "img"
    img.mkdir(parents=True, exist_ok=True)
    (args.docs / "params").mkdir(parents=True, exist_ok=True)

    print("AMZN: mapping and fitting the full day")
    amzn_flow = load_recorded([args.data / AMZN])
    amzn = calibrate(amzn_flow)
    amzn.model.save(args.docs / "params" / "AMZN_2012-06-21.json")
    plot_ks(amzn, amzn_flow, img / "ks_amzn.png", "AMZN 2012-06-21: residual QQ vs Exp(1)")
    print("AAPL: mapping and fitting the 998-message level-10 sample")
    aapl_flow = load_recorded([args.data / AAPL])
    aapl = calibrate(aapl_flow)
    plot_ks(aapl, aapl_flow, img / "ks_aapl.png", "AAPL 2012-06-21 (first 998 messages): residual QQ vs Exp(1)")

    print("simulating the fitted AMZN model over the same horizon")
    run = simulate_market(amzn.model, amzn_flow.horizon, args.seed, check_every=1000)
    real = real_facts(amzn_flow)
    sim = sim_facts(run, amzn_flow.horizon)
    plot_facts(real, sim, img / "stylized_facts_amzn.png")

    fit = amzn.fit
    m = amzn.model.metadata
    hp = amzn.model.hawkes
    half_lives = np.log(2) / hp.beta[np.ix_(amzn.active, amzn.active)]
    doc = f"""# Simulator validation on real data

Generated by `python -m simulator.validation_report` (simulator version `{SIMULATOR_VERSION}`,
simulation seed {args.seed}). Data: LOBSTER NASDAQ samples of 2012-06-21 in `data/lobster`
(see its README). Every number below is computed by that script; re-run it to refresh.

## What was fitted

The ten event types of the market model (market buy/sell, limit at the touch, inside the
spread and behind the touch per side, cancel per side), mapped from LOBSTER messages against
the book *before* each message (`simulator/calibration/lobster.py`). Executions with the same
timestamp and direction are one market order and are merged; the remaining exact ties
({m['mapping_diagnostics']['tie_shifted']} of {m['n_events']} AMZN events) are spaced by 1 us,
because an exact tie makes the Hawkes likelihood unbounded.
The Hawkes part is a maximum-likelihood fit of baselines, branching ratios **and decays**
(`simulator/hawkes/fit.py`), with the spectral radius of the branching matrix kept below 1.

The AMZN file is LOBSTER *level 1*: it only contains messages that touch the best quotes, so
it has **no deep limit orders and no deep cancels**. Those two dimensions are reported as not
fitted and carry a negligible baseline in the params; it is a property of the sample, not of
the model (the level-10 AAPL sample below has them).

## AMZN, full day ({amzn_flow.horizon:.0f} s, {len(amzn_flow)} events)

Converged: {fit.converged}; log-likelihood {fit.loglik:.1f}; spectral radius (branching ratio)
{fit.spectral_radius:.3f}; decays at an optimiser bound: {len(fit.decays_at_bound)}; kernel
half-lives range from {np.min(half_lives) * 1e3:.3g} ms to {np.max(half_lives):.3g} s.
{_fastest_kernels(amzn)}

Time-rescaling goodness of fit (KS of residuals against Exp(1), per dimension):

{ks_table(amzn)}

![AMZN residual QQ plots](img/ks_amzn.png)

Reading: the KS statistics ({min(d.ks_statistic for d in amzn.dims if d.fitted):.3f} to
{max(d.ks_statistic for d in amzn.dims if d.fitted):.3f}) are far below the reference paper's
0.60 / 0.68, and the fitted stationary rates match the observed ones, but with thousands of
events per dimension every p-value is far below 0.05: the exponential-kernel Hawkes model with a
constant baseline is **rejected** on this day. The QQ plots show where: the lower part of each
residual distribution is close to Exp(1), but the upper tail lies well above the diagonal, i.e.
there are long quiet stretches in which the model expected several events. That is the
signature of intraday seasonality (the open and the close are busier than midday; a constant
baseline cannot follow that) and of excitation at several time scales at once (one exponential
per pair cannot). A time-varying baseline or sums of exponentials would be
the next step; they are not in this model.

## AAPL, first 998 messages of the day (level 10)

{len(aapl_flow)} events over {aapl_flow.horizon:.1f} s; converged {aapl.fit.converged};
spectral radius {aapl.fit.spectral_radius:.3f}. With about a hundred events per dimension and
{10 + 2 * 100} free parameters this fit is weakly identified; it is shown because it is the only
sample with deep-book flow.

{ks_table(aapl)}

![AAPL residual QQ plots](img/ks_aapl.png)

## Stylized facts: real AMZN day vs the fitted model simulated for the same horizon

The simulated path starts from a symmetric book at the day's median mid and median spread
({amzn.model.init_spread_ticks} ticks) and runs {sim.n_events} events; the book was checked
for crossing after every event and for full consistency every 1,000 events
({'no violation' if run.invariant_code == 0 else f'VIOLATION code {run.invariant_code}'}); empty
sides were refilled {run.stats['refills']} times.

![stylized facts](img/stylized_facts_amzn.png)

{summary_rows(real, sim)}

Reading, figure by figure:

* **Inter-arrival times.** Both are far from Poisson (the dotted line): a large mass of
  sub-millisecond gaps and a long tail. The model reproduces the short-gap clustering closely;
  the real tail of long quiet gaps is heavier (coefficient of variation in the table), again
  what a constant baseline over a day with quiet and busy hours gives.
* **Autocorrelation of event counts.** The real day's counts stay correlated for many minutes,
  mostly because of the intraday activity pattern; a stationary Hawkes model with kernels that
  decay within seconds produces only short-range count correlation. This is the same misfit the
  KS test points at.
* **Spread.** Not fitted directly: it comes out of the book rules (improvers step inside by
  the calibrated improvement, cancels hit the touch as in the data, a level that empties reveals
  the one behind it). The medians agree, but the simulated distribution is much wider than the
  real one, which is concentrated between about 5 and 25 ticks: the simulation spends time at
  one tick and has a long upper tail. Two reasons: the level-1 file
  cannot show cancellations behind the touch, so the simulated book behind the touch only thins
  when it becomes the touch; and when the spread is one tick an inside-spread event has nowhere to
  go and is dropped ({run.stats['inside_dropped']} of {sim.n_events} events here), while a side
  emptied by a large market order is refilled from the calibrated level gaps
  ({run.stats['refills']} refills).
* **Trade-sign autocorrelation.** Real order flow is persistent (split meta-orders): the real
  correlation is still positive at 50 trades. In the model, persistence comes only from market
  orders exciting same-side market orders; it gives a substantial lag-1 correlation but decays to
  zero within about ten trades: short memory, not long memory.

## Reproduce

```
python -m simulator.validation_report            # writes this file, docs/img/*.png, docs/params/AMZN_2012-06-21.json
microexec calibrate data/lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv --out amzn.json
microexec simulate --seed 1 --symbol AMZN --seconds 23400 --params amzn.json
```
"""
    path = args.docs / "validation.md"
    # Keep the section `python -m microexec.replay.validation` generates (between its markers).
    old = path.read_text() if path.exists() else ""
    begin, end = "<!-- replay-validation:begin -->", "<!-- replay-validation:end -->"
    if begin in old and end in old:
        doc = doc.rstrip("\n") + "\n\n" + begin + old.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    path.write_text(doc)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
