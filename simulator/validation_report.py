"""Writes ``docs/validation.md`` and its figures: the simulator fitted to real LOBSTER data.

    python -m simulator.validation_report [--data data] [--seed 20120621]

Fits the ten-dimensional market model to the LOBSTER AMZN day (and the 998-message AAPL level-10
sample, the only one with deep-book flow), with the stationary exp-per-pair model and the
multi-scale candidates; reports the time-rescaling KS test per dimension on the day and on rolling
30-minute windows of every recording (AMZN, AAPL, Binance BTCUSDT), both models side by side;
simulates the fitted AMZN models over the same six and a half hours and judges stylized facts
against fixed tolerances. Every number in the document comes from this run; nothing is typed in
by hand, so re-running it is the way to update the report. A section another tool appends (from a
line starting ``## Advisor vs baseline`` to the end) is carried over unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray

from simulator import validation_age as va
from simulator import validation_facts as vf
from simulator import validation_windows as vw
from simulator.calibration import Calibration, RecordedFlow, calibrate, load_recorded
from simulator.calibration.calibrate import _embed_age, _embed_multiscale
from simulator.calibration.debatch import packet_ids
from simulator.calibration.windows import WindowFit, window_events, windowed_fits
from simulator.execution.bias import BiasResult, passive_bias
from simulator.execution.impact import ImpactCurve, impact_curve
from simulator.hawkes.events import HawkesEvents
from simulator.hawkes.goodness import residuals
from simulator.hawkes.multiscale import MultiScaleParams
from simulator.hawkes.multiscale_age import AGE_EDGES, fit_age_modulated
from simulator.hawkes.multiscale_age_sim import AgeFactors, Stability, check_stability
from simulator.hawkes.multiscale_age_stable import stabilise
from simulator.hawkes.multiscale_fit import Candidate, select_model
from simulator.market.model import MarketModel
from simulator.market.run import MarketRun, simulate_market
from simulator.market.types import DIM_NAMES, LIMIT_ASK_INSIDE, LIMIT_BID_INSIDE, MARKET_BUY, MARKET_SELL
from simulator.validation_diagnostics import (
    FREE_KERNEL_EDGES,
    free_kernel_fit,
    lag_bump,
    lobster_unfitted_spread_moves,
    one_tick_evidence,
)
from simulator.validation_doc import DOC
from simulator.version import SIMULATOR_VERSION

ROOT = Path(__file__).resolve().parents[1]
AMZN = "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv"
AAPL = "lobster/AAPL_2012-06-21_34200000_57600000_message_10_first998.csv"
BTC_RAW = "Binance BTCUSDT 2024-08-08/09 (top of book), raw receive times"
BTC_NAME = "Binance BTCUSDT 2024-08-08/09 (top of book), receive times de-batched"
"""The Binance window enters the headline counts de-batched (simulator/calibration/debatch.py); the
raw receive times are shown beside it, outside the totals."""
COUNT_BIN_S = 10.0
AGE_EDGES_A = np.asarray(AGE_EDGES)
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


def plot_facts(real: Facts, sims: dict[str, Facts], path: Path) -> None:
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    every = [(real, "real"), *((f, lab) for lab, f in sims.items())]
    # Inter-arrival: survival function on log-log axes (heavy tails show as straight-ish lines).
    for f, lab in every:
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
    for f, lab in every:
        ax[0, 1].plot(lags * COUNT_BIN_S, f.count_acf, ".-", ms=3, label=lab)
    ax[0, 1].axhline(0, color="k", lw=0.5)
    ax[0, 1].set_title(f"autocorrelation of event counts in {COUNT_BIN_S:.0f} s bins")
    ax[0, 1].set_xlabel("lag (s)")
    ax[0, 1].legend()
    hi = int(max(np.percentile(f.spreads, 99.5) for f, _ in every)) + 1
    bins = np.arange(0.5, hi + 1.5)
    for f, lab in every:
        ax[1, 0].hist(f.spreads, bins=bins, density=True, histtype="step", lw=1.2, label=lab)
    ax[1, 0].set_title("spread before each event (ticks)")
    ax[1, 0].legend()
    for f, lab in every:
        ax[1, 1].plot(lags, f.sign_acf, ".-", ms=3, label=lab)
    ax[1, 1].axhline(0, color="k", lw=0.5)
    ax[1, 1].set_xscale("log")
    ax[1, 1].set_title("trade-sign autocorrelation (market orders)")
    ax[1, 1].set_xlabel("lag (trades)")
    ax[1, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _events(flow: RecordedFlow, active: list[int]) -> HawkesEvents:
    keep = np.isin(flow.dims, active)
    remap = np.full(len(DIM_NAMES), -1)
    remap[active] = np.arange(len(active))
    return HawkesEvents(flow.times[keep], remap[flow.dims[keep]], flow.horizon, len(active))


def _run_facts(run: MarketRun, model: MarketModel, horizon: float) -> vf.Facts:
    rec = run.records
    spreads = np.diff(rec[:, 3:5], axis=1)[:, 0]
    before = np.concatenate([[spreads[0]], spreads[:-1]]) if spreads.size else spreads
    mids = np.asarray(0.5 * (rec[:, 3] + rec[:, 4]) * model.tick_size, dtype=np.float64)
    return vf.compute_facts(run.times, rec[:, 0], before, mids, horizon)


def _ks_list(cands: list[Candidate]) -> str:
    rows = ["| model | parameters | log-likelihood | AIC | BIC | KS statistics per dimension |",
            "|---|---:|---:|---:|---:|---|"]
    for c in cands:
        ks = ", ".join(f"{d.ks_statistic:.3f}" for d in c.goodness.dims)
        rows.append(f"| {c.name} | {c.n_params} | {c.loglik:.1f} | {c.aic:.0f} | {c.bic:.0f} | {ks} |")
    return "\n".join(rows)


def _bias_table(bias: dict[str, BiasResult]) -> str:
    rows = ["| own-order rule | signed mid move (bps) | standard error | buy | sell | fill ratio |",
            "|---|---:|---:|---:|---:|---:|"]
    for r, b in bias.items():
        rows.append(f"| {r}{' (default)' if r == 'market_view' else ''} | {b.mean_bps:.2f} | {b.stderr_bps:.2f} | "
                    f"{b.buy_bps:.2f} | {b.sell_bps:.2f} | {b.fill_ratio:.3f} |")
    return "\n".join(rows)


def _impact_table(curves: dict[float, ImpactCurve]) -> str:
    c0 = next(iter(curves.values()))
    head = "| share of 5-min volume | shares | " + " | ".join(f"impact, own_impact={k:g} (bps)" for k in curves)
    rows = [head + " |", "|---:|---:|" + "---:|" * len(curves)]
    for i, f in enumerate(c0.fractions):
        cells = " | ".join(f"{c.impact_bps[i]:.2f} +/- {c.stderr_bps[i]:.2f}" for c in curves.values())
        rows.append(f"| {100 * f:g}% | {c0.quantities[i]} | {cells} |")
    rows.append("| log-log slope (law: 0.5) | | " + " | ".join(f"{c.slope:.2f}" for c in curves.values()) + " |")
    rows.append("| prefactor Y | | " + " | ".join(f"{c.prefactor:.2f}" for c in curves.values()) + " |")
    return "\n".join(rows)


def _wide_over_narrow(wins: list[WindowFit]) -> dict[str, float]:
    """Median over windows (with more than one spread class) of the widest class's factor over the
    narrowest, for limit orders at and inside the touch and for market orders."""
    groups = {"limit": ("limit_bid_touch", "limit_ask_touch", "limit_bid_inside", "limit_ask_inside"),
              "market": ("market_buy", "market_sell")}
    out = {}
    for key, names in groups.items():
        r = [f[-1] / f[0] for w in wins if w.state_classes > 1
             for n, f in zip(w.dims, w.state_factors, strict=True) if n in names and f[0] > 0]
        out[key] = float(np.median(r)) if r else float("nan")
    return out


def _own_age_params(model: MarketModel, day: MarketModel | None, wins: list[WindowFit]) -> tuple[MarketModel, str]:
    """The AMZN own-age params the benchmarks and ``--own-age`` examples use: the day's model when its
    paths do not explode, else the busiest window's own-age model whose paths do not (its profile
    repeats every 30 minutes). Unconstrained fits only: the benchmarks' reference flow stays the
    same model from one run to the next, so their figures compare across sessions."""
    if day is not None:
        return day, "the whole day"
    stable = [w for w in wins if w.age_stable and not w.age_constraint and w.age_model is not None]
    if not stable:
        raise RuntimeError("no AMZN own-age model simulates without exploding: nothing to write for --own-age")
    w = max(stable, key=lambda w: w.n_events)
    base, factors = w.age_model  # type: ignore[misc]
    idx = [DIM_NAMES.index(n) for n in w.dims]
    full = np.ones((len(DIM_NAMES), factors.shape[1]))
    full[idx] = factors
    label = f"the {vw.window_label(w, 34200.0)} window"
    return dataclasses.replace(model, multiscale=_embed_multiscale(base, idx), own_age=AgeFactors(full, AGE_EDGES_A),
                               metadata=model.metadata | {"flow_model": f"{w.state_base} x own age, {label}"}), label


def _goal(best_pass: int, n_dims: int) -> str:
    """The 70% verdict for the best pass count among the models the simulator can run."""
    if best_pass >= 0.7 * n_dims:
        return f"met in sample ({best_pass} of {n_dims} = {100 * best_pass / n_dims:.0f}% >= 70%)"
    return f"NOT met ({best_pass} of {n_dims} = {100 * best_pass / n_dims:.0f}% < 70%)"


def _unfitted_moves(message_path: Path) -> tuple[int, int]:
    """(messages that move the spread, of which not fitted events) in one LOBSTER file pair."""
    msg = np.loadtxt(message_path, delimiter=",", ndmin=2)
    book = np.loadtxt(str(message_path).replace("_message_", "_orderbook_"), delimiter=",", ndmin=2)
    return lobster_unfitted_spread_moves(msg, book)


def _ks_range(wins: list[WindowFit]) -> str:
    """The KS statistics of AIC's runnable choice over the windows' dimensions, as 'lo-hi'."""
    ks = [k for w in wins for k, _ in w.run_aic_ks]
    return f"{min(ks):.3f}-{max(ks):.3f}"


def _btc_packets(raw: RecordedFlow, db: RecordedFlow) -> dict[str, float]:
    """The receive-time gap distribution that places the packet threshold, and what de-batching did."""
    g = np.diff(raw.times)
    n_pk = {us: int(packet_ids(raw.times, us * 1e-6)[-1]) + 1 for us in (10, 100)}
    h, e = np.histogram(np.log10(np.maximum(g, 1e-12)), bins=np.arange(-7.0, 0.01, 0.25))
    lo_mode = int(np.argmax(np.where(e[:-1] < -5, h, -1)))
    hi_mode = int(np.argmax(np.where(e[:-1] >= -4, h, -1)))
    trough = lo_mode + int(np.argmin(h[lo_mode:hi_mode + 1]))
    pk = db.debatch
    return {"gap_u10": float(np.mean(g < 1e-5)), "gap_u50": float(np.mean(g < 5e-5)),
            "gap_u100": float(np.mean(g < 1e-4)), "gap_u1ms": float(np.mean(g < 1e-3)),
            "trough_lo_us": 1e6 * 10 ** e[trough], "trough_hi_us": 1e6 * 10 ** e[trough + 1],
            "trough_n": int(h[trough]), "mode_lo_us": 1e6 * 10 ** (e[lo_mode] + 0.125),
            "mode_hi_ms": 1e3 * 10 ** (e[hi_mode] + 0.125), "pk_gap_us": 1e6 * float(pk["gap_s"]),
            "pk_spread_ms": 1e3 * float(pk["max_spread_s"]), "pk_n": int(pk["packets"]),
            "pk_batched": int(pk["batched_packets"]), "pk_moved": int(pk["events_moved"]),
            "pk_seed": int(pk["seed"]), "pk_n10": n_pk[10], "pk_n100": n_pk[100]}


def _venue_ms_share(files: list[Path]) -> float:
    """Of consecutive trades that arrived in one packet (packets over every message the reader
    yields), the share with the same venue trade time ``T`` (ms): whether a packet's events happened
    within one venue millisecond, which bounds how far de-batching spreads them."""
    from producers.binance import binance_records
    from producers.records import TRADE

    recs = [(r.ts_ns, int(r.value["payload"].get("vt", -1)) if r.kind == TRADE else -1)
            for r in binance_records(files)]
    arr = np.array(sorted(recs, key=lambda x: x[0]), dtype=np.int64)
    pid = packet_ids((arr[:, 0] - arr[0, 0]) * 1e-9)
    tr = np.flatnonzero(arr[:, 1] >= 0)
    same = pid[tr[1:]] == pid[tr[:-1]]
    return float(np.mean(arr[tr[1:], 1][same] == arr[tr[:-1], 1][same]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--seed", type=int, default=20120621)
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    img = args.docs / "img"
    img.mkdir(parents=True, exist_ok=True)
    (args.docs / "params").mkdir(parents=True, exist_ok=True)
    out_path = args.docs / "validation.md"
    tail = vw.preserved_tail(out_path.read_text()) if out_path.exists() else ""

    print("AMZN: mapping and fitting the full day")
    amzn_flow = load_recorded([args.data / AMZN])
    amzn = calibrate(amzn_flow)
    amzn.model.save(args.docs / "params" / "AMZN_2012-06-21.json")
    plot_ks(amzn, amzn_flow, img / "ks_amzn.png", "AMZN 2012-06-21: residual QQ vs Exp(1)")
    print("AMZN: multi-scale candidates on the full day")
    choice = select_model(_events(amzn_flow, amzn.active), scales=(2, 3, 4), bins=(1, 13, 26), exp_fit=amzn.fit)
    by_aic = min(choice.candidates, key=lambda c: c.aic)
    sims_of = {"exp per pair": amzn.model}
    for label, cand in ((f"BIC: {choice.best.name}", choice.best), (f"AIC: {by_aic.name}", by_aic)):
        if isinstance(cand.params, MultiScaleParams) and not any(cand.name in k for k in sims_of):
            sims_of[label] = dataclasses.replace(amzn.model, multiscale=_embed_multiscale(cand.params, amzn.active))
    day_stab = Stability(float("inf"), 0, 1)  # the day's own-age model, when BIC's choice is multi-scale
    day_cons: tuple[str, float, bool, bool] = ("", float("nan"), False, False)  # its constrained refit
    day_model: MarketModel | None = None
    if isinstance(choice.best.params, MultiScaleParams):
        sims_of[f"BIC: {choice.best.name}"].save(args.docs / "params" / "AMZN_2012-06-21_multiscale.json")
        print("AMZN: own-age factors on BIC's multi-scale model of the day")
        day_age = fit_age_modulated(choice.best.params, _events(amzn_flow, amzn.active))
        day_model = dataclasses.replace(amzn.model, multiscale=_embed_multiscale(day_age.base, amzn.active),
                                        own_age=_embed_age(day_age, amzn.active))
        day_stab = check_stability(day_age.base, AgeFactors(day_age.factors, day_age.age_edges), amzn_flow.horizon,
                                   args.seed)
        if day_stab.stable:
            sims_of[f"{choice.best.name} x own age"] = day_model
        else:
            print("AMZN: the day's own-age model explodes; refitting it under the stability constraint")
            day_run = stabilise(day_age, _events(amzn_flow, amzn.active), amzn_flow.horizon, args.seed,
                                stability=day_stab)
            day_cons = (day_run.constraint, day_run.fit.loglik - day_age.loglik, day_run.fit.bic < choice.best.bic,
                        day_run.fit.aic < by_aic.aic)
            sims_of[f"{choice.best.name} x own age ({day_run.constraint})"] = dataclasses.replace(
                amzn.model, multiscale=_embed_multiscale(day_run.fit.base, amzn.active),
                own_age=_embed_age(day_run.fit, amzn.active))
    print("AAPL: mapping and fitting the 998-message level-10 sample")
    aapl_flow = load_recorded([args.data / AAPL])
    aapl = calibrate(aapl_flow)
    plot_ks(aapl, aapl_flow, img / "ks_aapl.png", "AAPL 2012-06-21 (first 998 messages): residual QQ vs Exp(1)")

    print("simulating the fitted AMZN models over the same horizon")
    runs = {k: simulate_market(m, amzn_flow.horizon, args.seed, check_every=1000) for k, m in sims_of.items()}
    run = runs["exp per pair"]
    real = real_facts(amzn_flow)
    sim = sim_facts(run, amzn_flow.horizon)

    print("our own orders: passive bias and impact curve on the AMZN calibration")
    bias = {r: passive_bias(dataclasses.replace(amzn.model, own_order_rule=r), n_paths=1000)
            for r in ("market_view", "reachable", "legacy")}
    curves = {c: impact_curve(dataclasses.replace(amzn.model, own_impact=c), n_paths=300) for c in (0.0, 1.0)}

    print("rolling 30-minute windows")
    windows = {"AMZN 2012-06-21 (LOBSTER level 1)": windowed_fits(amzn_flow, progress=print),
               "AAPL 2012-06-21, first 998 messages (level 10)": windowed_fits(aapl_flow, progress=print)}
    btc_files = sorted((args.data / "binance").glob("*.gz"))
    btc_flow = load_recorded(btc_files)
    btc_db = load_recorded(btc_files, debatch=True)
    raw_wins = {BTC_RAW: windowed_fits(btc_flow, progress=print)}
    windows[BTC_NAME] = windowed_fits(btc_db, progress=print)
    raw_goal = {**{k: w for k, w in windows.items() if k != BTC_NAME}, **raw_wins}
    n_dims, n_ref, n_ch, n_aic = (sum(x) for x in zip(*(vw.pass_counts(w) for w in windows.values()), strict=True))
    n_state, n_state_base, state_pref = (sum(x) for x in zip(*(vw.state_counts(w) for w in windows.values()),
                                                             strict=True))
    print("diagnostics: free-shape kernels on the AMZN windows")
    amzn_wins = windows["AMZN 2012-06-21 (LOBSTER level 1)"]
    free = [free_kernel_fit(window_events(amzn_flow, w.start_s, w.end_s)[0]) for w in amzn_wins]
    free_fails = Counter(n for w, f in zip(amzn_wins, free, strict=True)
                         for n, p in zip(w.dims, f.ks_pvalues, strict=True) if not p > vw.LEVEL)
    wide = _wide_over_narrow(amzn_wins)
    modulated = va.modulated_fields(windows, amzn_flow, amzn_wins)
    age_params, age_params_src = _own_age_params(amzn.model, day_model if day_stab.stable else None, amzn_wins)
    age_params.save(args.docs / "params" / "AMZN_2012-06-21_own_age.json")
    print("the day's flow drawn window by window from the own-age window models")
    win_flow, n_age_wins = va.windowed_flow(amzn_wins, amzn_flow.horizon, args.seed)
    win_label = "own age per 30-min window"
    sims_of[win_label] = amzn.model
    runs[win_label] = simulate_market(amzn.model, amzn_flow.horizon, args.seed, check_every=1000, events=win_flow)
    plot_facts(real, {k: sim_facts(r, amzn_flow.horizon) for k, r in runs.items()}, img / "stylized_facts_amzn.png")
    real_f = vf.compute_facts(amzn_flow.times, amzn_flow.dims, amzn_flow.spreads, amzn_flow.mids, amzn_flow.horizon)
    facts_md, held = vf.facts_table(real_f, {k: _run_facts(r, sims_of[k], amzn_flow.horizon) for k, r in runs.items()})
    bad = {k: r.invariant_code for k, r in runs.items() if r.invariant_code != 0}
    print("own-age window models simulated over their windows")
    sim_age = va.simulated_windows(windows, args.seed)
    one_tick = {k: one_tick_evidence(f.times, f.dims, f.spreads, (LIMIT_BID_INSIDE, LIMIT_ASK_INSIDE))
                for k, f in (("amzn", amzn_flow), ("aapl", aapl_flow), ("btc", btc_flow))}
    moves = {k: _unfitted_moves(args.data / path) for k, path in (("amzn", AMZN), ("aapl", AAPL))}
    btc_gaps = np.diff(btc_flow.times)

    fit = amzn.fit
    hp = amzn.model.hawkes
    half_lives = np.log(2) / hp.beta[np.ix_(amzn.active, amzn.active)]
    best = choice.best
    ms_decays = best.params.decays if isinstance(best.params, MultiScaleParams) else np.array([])
    doc = DOC.format(
        version=SIMULATOR_VERSION, seed=args.seed, n_ref=n_ref, n_ch=n_ch, n_dims=n_dims,
        pct_ref=100 * n_ref / n_dims, pct_ch=100 * n_ch / n_dims, n_aic=n_aic, pct_aic=100 * n_aic / n_dims,
        goal=_goal(max(n_ch, n_aic, *(sum(vw.count(w, k) for w in windows.values()) for k in ("run", "run_aic"))),
                   n_dims),
        goal_raw=_goal(max(sum(vw.count(w, k) for w in raw_goal.values())
                           for k in ("chosen", "aic", "run", "run_aic")), n_dims),
        btc_db_pass=vw.count(windows[BTC_NAME], "run_aic"), btc_raw_pass=vw.count(raw_wins[BTC_RAW], "run_aic"),
        btc_db_best=max(vw.count(windows[BTC_NAME], k) for _, k in vw.COLUMNS),
        btc_raw_best=max(vw.count(raw_wins[BTC_RAW], k) for _, k in vw.COLUMNS),
        btc_dims=sum(len(w.dims) for w in windows[BTC_NAME]),
        btc_ks_raw=_ks_range(raw_wins[BTC_RAW]), btc_ks_db=_ks_range(windows[BTC_NAME]),
        **_btc_packets(btc_flow, btc_db),
        tie_shifted=amzn.model.metadata["mapping_diagnostics"]["tie_shifted"], n_amzn=len(amzn_flow),
        horizon=amzn_flow.horizon, converged=fit.converged, loglik=fit.loglik, rho=fit.spectral_radius,
        n_at_bound=len(fit.decays_at_bound), hl_min=np.min(half_lives) * 1e3, hl_max=np.max(half_lives),
        fastest=_fastest_kernels(amzn), ks_amzn=ks_table(amzn),
        ks_min=min(d.ks_statistic for d in amzn.dims if d.fitted),
        ks_max=max(d.ks_statistic for d in amzn.dims if d.fitted),
        candidates=_ks_list(choice.candidates), best_name=best.name, aic_name=by_aic.name,
        decays=", ".join(f"{1e3 * np.log(2) / b:.3g} ms" for b in ms_decays) or "one per pair",
        windows_summary=vw.summary(windows, extra=raw_wins), btc_batched=float(np.mean(btc_gaps < 1e-5)),
        n_btc=len(btc_flow), venue_same_ms=_venue_ms_share(btc_files), btc_h=btc_flow.horizon,
        btc_rate=len(btc_flow) / btc_flow.horizon,
        window_tables="\n\n".join(
            f"### {name}\n\n{vw.choice_table(w, 34200.0 if 'LOBSTER' in name else None)}\n\n"
            f"{vw.window_table(w, 34200.0 if 'LOBSTER' in name else None)}"
            for name, w in {**windows, **raw_wins}.items()),
        n_aapl=len(aapl_flow), aapl_h=aapl_flow.horizon, aapl_conv=aapl.fit.converged,
        aapl_rho=aapl.fit.spectral_radius, ks_aapl=ks_table(aapl), init_spread=amzn.model.init_spread_ticks,
        book_ok="no violation" if not bad else f"VIOLATIONS {bad}",
        held_md="; ".join(f"{k}: {v} of {len(vf.TOLERANCES)}" for k, v in held.items()), facts_md=facts_md,
        inside_dropped=run.stats["inside_dropped"], sim_events=sim.n_events,
        bias_qty=max(1, round(0.01 * amzn.model.expected_market_volume(300.0))),
        n_state=n_state, pct_state=100 * n_state / n_dims, state_pref=state_pref,
        **modulated, **sim_age, age_day_name=f"{best.name} x own age", n_age_wins=n_age_wins,
        n_amzn_wins=len(amzn_wins), age_params_src=age_params_src, day_bound=day_stab.bound,
        day_paths_ok=day_stab.paths_ok,
        day_paths=day_stab.n_paths, day_cons=(
            "" if not day_cons[0] else
            f" Refitted under the stability constraint (rung: {day_cons[0]}) it runs, at a cost of "
            f"{-day_cons[1]:.0f} in log-likelihood; BIC {'prefers' if day_cons[2] else 'does not prefer'} it to "
            f"{best.name}, AIC {'prefers' if day_cons[3] else 'does not prefer'} it to {by_aic.name}, and its "
            "day is a column of the table."),
        day_verdict=("simulates without exploding, so it is a column of the table"
                                                 if day_stab.stable else "explodes: its paths run normally for a "
                                                 "while and then burst without end, so it is not in the table"),
        **{f"{k}_one_tick": v.time_share for k, v in one_tick.items()},
        **{f"{k}_inside": v.inside_events for k, v in one_tick.items()},
        **{f"{k}_inside1": v.inside_at_one_tick for k, v in one_tick.items()},
        **{f"{k}_moves": v[0] for k, v in moves.items()}, **{f"{k}_unfit": v[1] for k, v in moves.items()},
        amzn_med_spread=int(np.median(amzn_flow.spreads[amzn_flow.spreads > 0])),
        btc_retreat=btc_flow.diagnostics.get("inside_after_retreat", 0),
        btc_partition=", ".join(sorted({w.state_partition for w in windows[BTC_NAME]})),
        state_verdict="more often than" if n_state > n_state_base else (
            "as often as" if n_state == n_state_base else "less often than"),
        n_windows=sum(len(w) for w in windows.values()), n_state_base=n_state_base,
        free_bins=len(FREE_KERNEL_EDGES) - 1, free_params=free[0].n_params, free_pass=sum(f.passes() for f in free),
        amzn_dims=vw.pass_counts(amzn_wins)[0], amzn_bic=vw.pass_counts(amzn_wins)[2],
        amzn_aic=vw.pass_counts(amzn_wins)[3],
        free_fail_dims=", ".join(f"{n} ({k} of {len(amzn_wins)} windows)" for n, k in free_fails.most_common(4)),
        bump=lag_bump(amzn_flow.times), wide_limit=wide["limit"], wide_market=wide["market"],
        bias_table=_bias_table(bias), impact_table=_impact_table(curves),
        bias_new=bias["market_view"].mean_bps, bias_new_se=bias["market_view"].stderr_bps,
        bias_goal="met" if abs(bias["market_view"].mean_bps) < 1.0 else "NOT met (at or above 1 bps)",
        acf_real=real_f.values["count ACF, mean over lags 30-300 s"], impact_1pct=curves[0.0].impact_bps[1],
        slope0=curves[0.0].slope, slope1=curves[1.0].slope,
        y0=curves[0.0].prefactor, y1=curves[1.0].prefactor,
        per_share_lo=min(m / q for m, q in zip(curves[0.0].impact_bps, curves[0.0].quantities, strict=True)),
        per_share_hi=max(m / q for m, q in zip(curves[0.0].impact_bps, curves[0.0].quantities, strict=True)))
    out_path.write_text(doc + ("\n" + tail if tail else ""))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
