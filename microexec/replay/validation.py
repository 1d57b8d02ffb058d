"""Writes the "Advisor vs baseline" section of docs/validation.md, and docs/img/replay_report.png.

    python -m microexec.replay.validation [--out replay-validation] [--docs docs]

Runs `microexec replay` on five simulated markets (seeds no test uses and the advisor was not tuned on;
each mixes calm, stressed and shock segments), on three more with one regime forced each (calm, stressed, shock), on the
whole recorded LOBSTER AMZN day (one model for the day, and one model per 30-minute window) and on
both Binance BTCUSDT files, then
puts every run's criteria and per-regime figures into the document between two markers, so the
section is regenerated, never edited by hand (simulator.validation_report keeps it when it rewrites
the rest of the file). Each run's report.html and gate_evidence.json stay under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from consumers.advisor.advisor import PassiveFillConfig
from microexec.cli import main as cli
from microexec.replay.browser import screenshot
from microexec.sample_data import AMZN_MESSAGES, ROOT, binance_files
from producers.paper.policy_map import PaperConfig
from simulator.execution.catchup import CatchUp

CATCH_UP = PaperConfig().catch_up
BEGIN, END = "<!-- replay-validation:begin -->", "<!-- replay-validation:end -->"
SIM_SEEDS = (2026, 4242, 9001, 5151, 8128)  # held out: the advisor was tuned on seeds 1-20 (TUNING_SEEDS)
TUNING_SEEDS = range(1, 21)
FORCED_SEED, FORCED_ORDERS = 7331, 200  # one market per regime, the regime forced on the whole run
SIM_SECONDS, SIM_ORDERS = 1800, 300
LOBSTER_ORDERS, BINANCE_ORDERS = 400, 200


def runs() -> list[tuple[str, list[str]]]:
    out = [(f"simulated:{s}", ["--market", f"simulated:{s}", "--seconds", str(SIM_SECONDS), "--generate",
                               str(SIM_ORDERS)]) for s in SIM_SEEDS]
    out += [(f"simulated:{FORCED_SEED} {r}", ["--market", f"simulated:{FORCED_SEED}", "--regime", r, "--seconds",
                                              str(SIM_SECONDS), "--generate", str(FORCED_ORDERS)])
            for r in ("calm", "stressed", "shock")]
    out.append(("LOBSTER AMZN 2012-06-21", ["--market", str(AMZN_MESSAGES.relative_to(ROOT)), "--generate",
                                           str(LOBSTER_ORDERS)]))
    out.append(("LOBSTER AMZN 2012-06-21 30-min windows", ["--market", str(AMZN_MESSAGES.relative_to(ROOT)),
                                                          "--calibration-window", "1800", "--generate",
                                                          str(LOBSTER_ORDERS)]))
    out.append(("Binance BTCUSDT", ["--market", *(str(p.relative_to(ROOT)) for p in binance_files()), "--generate",
                                    str(BINANCE_ORDERS)]))
    return out


def _n(v: Any, d: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.3e}" if d >= 3 and 0 < abs(v) < 0.01 else f"{v:,.{d}f}"


def _fig(c: dict[str, Any]) -> str:
    f = c["figure"]
    if f is None:
        return "–"
    return f"{f:+.1%}" if c["name"] in ("mean_slippage", "p95_shortfall") else f"{f:+.2f}"


def fill_gap_interval(rows: list[dict[str, Any]], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% paired bootstrap interval (percentile, resampling orders) of advisor - baseline fill rate, in
    points. Why: a run has a few hundred orders, so the fill-rate gap itself is noisy; the interval says
    whether a miss of the 2-point goal is a real difference or sampling noise. Seeded: same rows, same
    interval."""
    qty = np.array([r["quantity"] for r in rows], dtype=float)
    gap = np.array([r["advised"]["filled_qty"] - r["baseline"]["filled_qty"] for r in rows], dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(rows), size=(resamples, len(rows)))
    stats = gap[idx].sum(axis=1) / qty[idx].sum(axis=1) * 100.0
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def noise_line(results: list[tuple[str, str, dict[str, Any]]]) -> str:
    """The reading's bullet on the fill-rate gap's sampling noise (``fillGapInterval`` per run)."""
    spans = [(name, d["fillGapInterval"]) for name, _, d in results if d.get("fillGapInterval")]
    with_zero = sum(lo <= 0.0 <= hi for _, (lo, hi) in spans)
    above = sum(lo >= -2.0 for _, (lo, hi) in spans)
    inside = sum(lo >= -2.0 and hi <= 2.0 for _, (lo, hi) in spans)
    return ("* Is a fill-rate miss real? 95% paired bootstrap intervals of the gap, in points (orders "
            "resampled): " + "; ".join(f"{name} {lo:+.1f} to {hi:+.1f}" for name, (lo, hi) in spans) + ". "
            f"In {with_zero} of {len(spans)} runs the interval holds 0 (no detectable difference); in {above} it "
            f"lies above -2 (the goal is met beyond sampling noise) and in {inside} inside the 2-point band either "
            "way: with a few hundred orders a run can rarely show, by this criterion alone, that the goal is met "
            "or missed.")


def _split_line(doc: dict[str, Any] | None) -> str:
    """How many orders of a run went passive and how many kept market orders, with their fill rates."""
    if doc is None:
        return ""
    groups: dict[str, list[float]] = {}
    for r in doc.get("byAdvisedPolicy", []):
        kind = str(r["regime"]).split(" ")[0]
        if kind == "passive" or (kind == "marketable" and not str(r["regime"]).endswith(" x1")):
            g = groups.setdefault(kind, [0.0, 0.0, 0.0])
            g[0] += r["orders"]
            g[1] += r["orders"] * r["baseline_fill_rate"]
            g[2] += r["orders"] * r["advised_fill_rate"]
    parts = [f"{int(g[0])} tightened orders {'passive' if k == 'passive' else 'kept market orders'} (fill "
             f"{g[1] / g[0]:.3f} -> {g[2] / g[0]:.3f}, order-weighted)" for k, g in sorted(groups.items(),
                                                                                    reverse=True) if g[0]]
    return "; ".join(parts) + "."


def _gate_clause(cu: CatchUp) -> str:
    """The catch-up's spread gate, in words (empty when it is off)."""
    if not cu.gated:
        return ""
    wait = (f"; such a cross waits while the spread is wider than {cu.spread_gate:g} times the spread the order "
            f"has seen (time-weighted, {cu.gate_memory_s:g} s memory)")
    if cu.gate_deadline >= 1.0:
        return wait + (", however long: there is no forced deadline, the deficit a wide spread leaves stays "
                       "uncrossed")
    return wait + f", and goes whatever the spread from {cu.gate_deadline:.0%} of its horizon on"


def reading(results: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """The section's summary, computed from the runs (so it cannot drift from the tables)."""
    def crit(doc: dict[str, Any], name: str) -> dict[str, Any]:
        return next(c for c in doc["criteria"] if c["name"] == name)

    n = len(results)
    mean_ok = sum(crit(d, "mean_slippage")["result"] == "pass" for _, _, d in results)
    p95_ok = sum(crit(d, "p95_shortfall")["result"] == "pass" for _, _, d in results)
    fills = [crit(d, "fill_rate")["figure"] for _, _, d in results]
    cu = CATCH_UP
    rejections = sum(int(crit(d, "risk_rejections")["advised"]) for _, _, d in results)
    full = [(d["summary"]["baseline"]["mean_full_shortfall_bps"], d["summary"]["advisor"]["mean_full_shortfall_bps"])
            for _, _, d in results]
    full_lower = sum(a < b for b, a in full)
    judged = [r for _, _, d in results for r in d["regimes"] if r["advisor_wins"] is not None]
    reasons: dict[str, int] = {}
    for r in judged:
        for why in (r["why"] or "").split(", "):
            if why:
                key = why.split(" ")[0] + (" " + why.split(" ")[1] if why.startswith(("fill", "mean", "net")) else "")
                reasons[key] = reasons.get(key, 0) + 1
    lost = sum(r["advisor_wins"] is False for r in judged)
    out = ["**Reading.**", "",
           f"* Passing runs: {sum(d['verdict'] == 'pass' for _, _, d in results)} of {n}.",
           f"* Cost of what filled: the advisor passes the mean-slippage goal in {mean_ok} of {n} runs and the "
           f"p95-shortfall goal in {p95_ok} of {n}.",
           f"* Fill rate: the advisor's is {min(fills):+.1f} to {max(fills):+.1f} points from the baseline's "
           f"(goal: not more than 2 below, met in {sum(f >= -2 - 1e-9 for f in fills)} of {n} runs; read "
           f"symmetrically, within 2 either way, {sum(abs(f) <= 2 + 1e-9 for f in fills)} of {n}; why one-sided: "
           "docs/replay.md). A tightened order is worked "
           "passively at the touch when the state's fill_hazard says a child joining the touch is likely to fill "
           f"(at least {PassiveFillConfig().min_fill_probability:g} over "
           f"{PassiveFillConfig().reference_horizon_s:g} s), else with the baseline's market orders at the "
           "tightened pace ('marketable' rows below); either way it gets the time Torghut gives a tightened order "
           "(1-3x its horizon, by how much the advice slows it; docs/replay.md) and is judged at the end of that "
           "time. A passive arm catches up"
           + (f": when its fill falls more than {cu.tolerance:.0%} of the order behind its own advised schedule, "
              "the deficit beyond that is sent as a marketable child at the baseline's price, never past the "
              "schedule (simulator/execution/catchup.py)" + _gate_clause(cu) + "." if cu is not None
              and math.isfinite(cu.tolerance) and cu.final == 0 else f" ({cu.label()}; "
              "simulator/execution/catchup.py)." if cu is not None else ": no (catch-up off)."),
           noise_line(results),
           f"* Whole-order implementation shortfall is lower for the advisor in {full_lower} of {n} runs; but the "
           "generated orders have random sides (no alpha), so the unfilled rest is marked at a move that averages "
           "about zero: this figure, like net-after-cost PnL, also favours not trading. A strategy whose orders "
           "carry alpha pays for what is left undone.",
           f"* Risk rejections (adverse_selection_risk > 0.85): {rejections} orders over all runs; the baseline "
           "has none by construction.",
           f"* Regimes: the advisor loses {lost} of {len(judged)} judged regimes; reasons (count): "
           + (", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none") + ".",
           "* LOBSTER AMZN (executed on models calibrated on the day): "
           + _split_line(next((d for nm, _, d in results if nm.startswith("LOBSTER")), None)) + " The fill gap is "
           "smaller than with every tightened order passive, but the orders that keep market orders pay the spread "
           "at half pace over twice the time, and the p95 is not 25% lower. Passive children do not fill less "
           "because the model starves them: a child joining the touch fills within 60 s in 70-75% of cases on the "
           "day's model and in 49-52% on the recording (`python -m microexec.replay.touch_check --market "
           "data/lobster/AMZN_...message_1.csv`). What overstates is the state's fill_hazard, which decides passive "
           "or market: where it read 0.97 (readings above 0.9), 61% of children joining then filled within 60 s on "
           "the recording; at 0.77, 55%; at 0.14, 43% (same command). It ranks states in the right order but far "
           "more steeply than the outcomes; recalibrating it (consumers/state) is open. Before and after the "
           "passive-fill rule: docs/replay.md.",
           "* Binance BTCUSDT: of the state's hazard and the execution model, the model was wrong "
           "(`python -m microexec.replay.touch_check`). On the recording a child joining the touch fills within "
           "60 s in 74% (ask) to 94% (bid) of cases, and the hazard (median 0.998 over the run) overstates that by "
           "about 12 points; on the model calibrated on the recording no joining child filled within 120 s: its "
           "touch queue was 680-820 BTC (recorded ~1.1) and its price changed at most 0.02 times a second (recorded "
           "5.5). "
           "The top-of-book mapping makes each increase of the touch size a resting order but cannot see the "
           "volume cancelled once the price moves past a level (at an unchanged bid 6.1 BTC/s is added, 2.6 BTC/s "
           "visibly removed); the engine keeps what it is given. The replay now scales a top-of-book recording's "
           "touch-add sizes so the engine's touch balances (simulator/calibration/touch_balance.py): over 5 "
           "simulated paths the touch is 1-8 BTC, the spread one tick 81-95% of the time (recorded 89%), and "
           "joining children fill 83-99% within 60 s; its price still moves far less than the recorded one "
           "(0.14-0.47 touch changes a second; median 60 s move 0-37 ticks against 4,318). Trades are on the "
           "recorder's clock now, like the quotes (producers/binance.py). The relative cost goals here compare "
           "figures below 1 bp.",
           "", "By what the advisor arm ran (orders; fill rate baseline -> advisor; mean slippage baseline -> "
           "advisor, bps):", ""]
    for name, _, doc in results:
        parts = [f"{r['regime']}: {r['orders']}; {_n(r['baseline_fill_rate'], 3)} -> {_n(r['advised_fill_rate'], 3)}; "
                 f"{_n(r['baseline_mean_bps'], 3)} -> {_n(r['advised_mean_bps'], 3)}"
                 for r in doc.get("byAdvisedPolicy", [])]
        out.append(f"* {name}: " + " | ".join(parts))
    return [*out, ""]


def section(results: list[tuple[str, str, dict[str, Any]]]) -> str:
    """Markdown for every run: the verdict, each criterion, each regime."""
    lines = [BEGIN, "", "## Advisor vs baseline (offline replay)", "",
             "Generated by `python -m microexec.replay.validation` (it runs `microexec replay` for every market "
             "below; method and assumptions in docs/replay.md). Same orders, both arms on the same seeded market "
             "path per order; slippage and shortfall in Torghut's arithmetic (positive = cost). Baseline: 10% "
             "participation, market orders, normal urgency (Torghut's deterministic policy as configured in "
             "`producers/paper/policy_map.py`); advisor arm: the advice in force at arrival, applied by Torghut's "
             "client rules. A regime is judged with at least 6 orders filled in both arms; the advisor loses it on "
             "any of mean slippage, fill rate (more than 2 points below the baseline's) or net-after-cost PnL.", "",
             f"**Seeds.** The advisor's configuration (consumers/advisor/friction.py regime limits, "
             f"advisor.py adverse-selection bias and passive-fill threshold) and the advised arm's catch-up "
             f"(producers/paper/policy_map.py `CATCH_UP`) were tuned on simulated seeds "
             f"{TUNING_SEEDS.start}-{TUNING_SEEDS.stop - 1} only (900 s markets, 100 orders each, order seed 1; the "
             "threshold and the catch-up with `python -m microexec.replay.tuning [--catch-up | --gate | --joint]`, "
             "docs/replay.md). "
             "Every run below is "
             f"held out: simulated seeds {', '.join(map(str, SIM_SEEDS))} (mixed regimes) and {FORCED_SEED} (one "
             "regime forced per run), and the recorded LOBSTER and Binance data. No test uses a held-out seed (the "
             "replay tests use simulated seeds 5 and 11, inside the tuning range).",
             ""]
    lines += reading(results)
    for name, command, doc in results:
        base, adv = doc["summary"]["baseline"], doc["summary"]["advisor"]
        lines += [f"### {name}: {doc['verdict'].upper()}", "", f"`{command}`", "",
                  f"{doc['evaluationWindow']['orders']} orders; advice applied to {doc['run']['advice_applied']}; "
                  f"decisions {doc['run']['decisions']}; " + "; ".join(doc["market"]["notes"]) + ".", "",
                  "| criterion | baseline | advisor | figure | result |", "|---|---:|---:|---:|---|"]
        lines += [f"| {c['goal']} | {_n(c['baseline'], 3)} | {_n(c['advised'], 3)} | {_fig(c)} | "
                  f"**{c['result']}** |" for c in doc["criteria"]]
        lines += ["", f"Whole-order implementation shortfall (unfilled rest at the horizon mid), mean: baseline "
                  f"{_n(base['mean_full_shortfall_bps'], 3)}, advisor {_n(adv['mean_full_shortfall_bps'], 3)} bps. "
                  f"Net-after-cost PnL: baseline {_n(base['net_pnl'])}, advisor {_n(adv['net_pnl'])}; p99 "
                  f"shortfall {_n(base['p99_shortfall_bps'], 3)} vs {_n(adv['p99_shortfall_bps'], 3)} bps; worst "
                  f"{_n(base['worst_shortfall_bps'], 3)} vs {_n(adv['worst_shortfall_bps'], 3)} bps.", "",
                  "| regime | orders | both filled | baseline mean bps | advisor mean bps | baseline p95 | "
                  "advisor p95 | baseline fill | advisor fill | baseline net PnL | advisor net PnL | advisor |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in doc["regimes"]:
            verdict = ("too few samples" if r["advisor_wins"] is None else "wins" if r["advisor_wins"]
                       else f"**loses** ({r['why']})")
            lines.append(f"| {r['regime']} | {r['orders']} | {r['paired']} | {_n(r['baseline_mean_bps'], 3)} | "
                         f"{_n(r['advised_mean_bps'], 3)} | {_n(r['baseline_p95_bps'], 3)} | "
                         f"{_n(r['advised_p95_bps'], 3)} | {_n(r['baseline_fill_rate'], 3)} | "
                         f"{_n(r['advised_fill_rate'], 3)} | {_n(r['baseline_net_pnl'])} | "
                         f"{_n(r['advised_net_pnl'])} | {verdict} |")
        lines.append("")
    lines += ["![replay report (LOBSTER AMZN day)](img/replay_report.png)", "", END]
    return "\n".join(lines) + "\n"


def splice(doc: str, block: str) -> str:
    """Replace the marked block in ``doc`` (or append it)."""
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + block.rstrip("\n") + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n" + block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "replay-validation")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("--reuse", action="store_true",
                    help="re-render from the runs already under --out (same code assumed), running only missing ones")
    args = ap.parse_args()
    results = []
    for name, argv in runs():
        out = args.out / name.replace(":", "-").replace(" ", "-").lower()
        full = ["replay", *argv, "--out", str(out)]
        if not (args.reuse and (out / "gate_evidence.json").is_file()) and cli(full) != 0:
            raise SystemExit(f"microexec {' '.join(full)} failed")
        doc = json.loads((out / "gate_evidence.json").read_text())
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
        doc["fillGapInterval"] = fill_gap_interval(rows)
        results.append((name, "microexec " + " ".join(full[:-2]) + " --out DIR", doc))
    path = args.docs / "validation.md"
    path.write_text(splice(path.read_text() if path.exists() else "", section(results)))
    screenshot(args.out / "lobster-amzn-2012-06-21" / "report.html", args.docs / "img" / "replay_report.png")
    print(f"wrote {path} and {args.docs / 'img' / 'replay_report.png'}")


if __name__ == "__main__":
    main()
