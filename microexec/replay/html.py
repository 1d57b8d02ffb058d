"""report.html: one self-contained page (inline CSS, inline SVG) that a reviewer reads before promotion.

Why self-contained: the report travels as an artifact (CI, a ticket, an e-mail) and must render
without network or sibling files. Every number shown comes from the same rows as gate_evidence.json.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from microexec.replay import svg
from microexec.replay.metrics import ArmSummary, Criterion, RegimeRow
from microexec.replay.outcomes import PairOutcome
from simulator.calibration import DimensionReport

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1340px;
color:#222;background:#fafafa}
h1{margin:0 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0;font-size:13px;background:#fff}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}
.pass{color:#fff;background:#2e7d32}.fail{color:#fff;background:#c62828}.na{background:#eee}
.verdict{display:inline-block;padding:6px 16px;font-size:20px;font-weight:bold;border-radius:4px}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid svg{border:1px solid #ddd;background:#fff}
.meta{color:#555;font-size:13px}code{background:#eee;padding:1px 4px}
"""


def _n(v: float | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if digits >= 3 and 0 < abs(v) < 0.01:
        return f"{v:.3e}"  # a one-tick BTC spread is ~1e-3 bps: fixed decimals would print zeros
    return f"{v:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, last_left: bool = False) -> str:
    def cls(i: int) -> str:
        return "l" if i < left or (last_left and i == len(header) - 1) else ""

    th = "".join(f'<th class="{cls(i)}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{cls(i)}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _badge(ok: bool | None) -> str:
    if ok is None:
        return '<span class="na">n/a</span>'
    return f'<span class="{"pass" if ok else "fail"}">&nbsp;{"pass" if ok else "fail"}&nbsp;</span>'


def _criteria(criteria: Sequence[Criterion]) -> str:
    rows = []
    for c in criteria:
        pct = c.name in ("mean_slippage", "p95_shortfall")
        fig = f"{c.figure:+.1%}" if pct and math.isfinite(c.figure) else _n(c.figure)
        rows.append([escape(c.goal), _n(c.baseline, 3), _n(c.advised, 3), fig, _badge(c.passed), escape(c.detail)])
    return _table(["criterion", "baseline", "advisor", "figure", "result", "how"], rows, last_left=True)


def _summary(base: ArmSummary, adv: ArmSummary) -> str:
    fields = [("orders", "orders", 0), ("orders with a fill", "filled_orders", 0),
              ("fill rate (shares)", "fill_rate", 4),
              ("mean slippage (bps)", "mean_slippage_bps", 3), ("median slippage (bps)", "p50_slippage_bps", 3),
              ("p95 shortfall (bps)", "p95_shortfall_bps", 3), ("p99 shortfall (bps)", "p99_shortfall_bps", 3),
              ("worst shortfall (bps)", "worst_shortfall_bps", 3),
              ("mean shortfall notional", "mean_shortfall_notional", 2),
              ("p95 shortfall notional", "p95_shortfall_notional", 2),
              ("mean full implementation shortfall (bps, unfilled at horizon mid)", "mean_full_shortfall_bps", 3),
              ("net-after-cost PnL (sum)", "net_pnl", 2), ("risk rejections", "risk_rejections", 0)]
    rows = [[escape(label), _n(getattr(base, f), d), _n(getattr(adv, f), d)] for label, f, d in fields]
    return _table(["", "baseline", "advisor"], rows)


def _regimes(regimes: Sequence[RegimeRow], charts: bool = True, label: str = "regime") -> str:
    rows = [[escape(r.regime), str(r.orders), str(r.paired), _n(r.baseline_mean_bps, 3), _n(r.advised_mean_bps, 3),
             _n(r.delta_mean_bps, 3), _n(r.baseline_p95_bps, 3), _n(r.advised_p95_bps, 3),
             _n(r.baseline_fill_rate, 4), _n(r.advised_fill_rate, 4), _n(r.baseline_net_pnl),
             _n(r.advised_net_pnl), f"{r.applied_share:.0%}",
             _badge(r.advisor_wins) + (f" {escape(r.why)}" if r.why else "")] for r in regimes]
    table = _table([label, "orders", "both filled", "baseline mean bps", "advisor mean bps", "Δ mean bps",
                    "baseline p95", "advisor p95", "baseline fill", "advisor fill", "baseline net PnL",
                    "advisor net PnL", "advice applied", "advisor wins"], rows)
    if not charts:
        return table
    names = [r.regime for r in regimes]
    chart = svg.bars("Mean slippage per regime (orders both arms filled)", "bps", names,
                     {"baseline": [r.baseline_mean_bps for r in regimes],
                      "advisor": [r.advised_mean_bps for r in regimes]})
    fills = svg.bars("Fill rate per regime", "filled / ordered shares", names,
                     {"baseline": [r.baseline_fill_rate for r in regimes],
                      "advisor": [r.advised_fill_rate for r in regimes]})
    return f'{table}<div class="grid">{chart}{fills}</div>'


def _tail_quantiles(values: Sequence[float]) -> tuple[list[float], list[float]]:
    v = [x for x in values if math.isfinite(x)]
    qs = [50 + 0.5 * k for k in range(101)]
    return (qs, [float(np.percentile(v, q)) for q in qs]) if v else ([], [])


def _divergence(pairs: Sequence[PairOutcome], t0_ns: int) -> str:
    both = [p for p in pairs if p.baseline.filled_qty and p.advised.filled_qty]
    xs = [(p.submitted_ns - t0_ns) / 1e9 for p in both]
    delta = [p.advised.slippage_bps - p.baseline.slippage_bps for p in both]
    run = list(np.cumsum(delta) / np.arange(1, len(delta) + 1)) if delta else []
    charts = [svg.lines("Advisor − baseline slippage per order (dots) and running mean", "seconds since start",
                        "bps (negative: advisor cheaper)",
                        {"per order": (xs, delta), "running mean": (xs, run)}, points=["per order"])]
    with_p50 = [p for p in pairs if p.expected_shortfall_bps_p50 is not None and p.advised.filled_qty]
    if with_p50:
        div = [p.advised.slippage_bps - float(p.expected_shortfall_bps_p50 or 0.0) for p in with_p50]
        charts.append(svg.lines("Torghut divergence: realized − expected p50 (advisor arm)", "seconds since start",
                                "bps", {"divergence": ([(p.submitted_ns - t0_ns) / 1e9 for p in with_p50], div)},
                                points=True))
        note = ""
    else:
        note = ("<p class='meta'>Torghut's divergence (realized − expected_shortfall_bps_p50) needs advice that "
                "carries a simulator p50; no advice in this run did (no shortfall records in the replayed input), "
                "so only the arms' divergence is shown.</p>")
    return f'<div class="grid">{"".join(charts)}</div>{note}'


def _windows(windows: Sequence[Mapping[str, Any]]) -> str:
    if not windows:
        return ""
    by_symbol = any("symbol" in w for w in windows)  # a market of several symbols: a model per symbol and window
    rows = [([escape(str(w.get("symbol", "")))] if by_symbol else [])
            + [escape(w["start"]), escape(w["end"]), str(w["events"]), _n(w["rate_per_s"]), _n(w["ks_median"], 4),
               _n(w["ks_max"], 4), "whole-slice model (too thin to fit)" if w["fallback"] else "own model"]
            for w in windows]
    head = ["symbol"] * by_symbol + ["from", "to", "events", "events/s", "median KS", "max KS", "model"]
    return ("<h3>Calibration windows (each order runs on its arrival window's model)</h3>"
            + _table(head, rows, left=2 + by_symbol, last_left=True))


def _calibration(dims: Sequence[DimensionReport], notes: Sequence[str]) -> str:
    if not dims:
        return "<p>No calibration in this run: " + escape("; ".join(notes)) + "</p>"
    rows = [[escape(d.name), str(d.n_events), _n(d.ks_statistic, 4) if d.fitted else "not fitted",
             f"{d.ks_pvalue:.2e}" if d.fitted else "–", _n(d.empirical_rate, 4),
             _n(d.model_rate, 4) if d.fitted else "–"] for d in dims]
    fitted = [d for d in dims if d.fitted]
    short = {"market": "mkt", "limit": "lim", "cancel": "cxl", "inside": "in"}
    labels = [" ".join(short.get(w, w) for w in d.name.split("_")) for d in fitted]
    chart = svg.bars("Time-rescaling KS statistic per dimension", "KS statistic", labels,
                     {"KS": [d.ks_statistic for d in fitted]})
    return _table(["dimension", "events", "KS", "p-value", "rate data (1/s)", "rate model (1/s)"], rows) + chart


def render(*, title: str, market: Mapping[str, Any], pairs: Sequence[PairOutcome], base: ArmSummary,
           adv: ArmSummary, regimes: Sequence[RegimeRow], by_state: Sequence[RegimeRow],
           by_policy: Sequence[RegimeRow],
           criteria: Sequence[Criterion],
           calibration: Sequence[DimensionReport], evidence: Mapping[str, Any], generated_at: str,
           windows: Sequence[Mapping[str, Any]] = (),
           fee_bps: float) -> str:
    """The whole page; ``generated_at`` (wall clock) is the only non-reproducible byte and is labelled so."""
    verdict = evidence.get("verdict", "fail")
    t0 = min((p.submitted_ns for p in pairs), default=0)
    order = sorted(pairs, key=lambda p: (p.submitted_ns, p.order_id))
    xs = [(p.submitted_ns - t0) / 1e9 for p in order]
    cum = {arm: list(np.cumsum([getattr(p, arm).net_pnl(fee_bps) for p in order])) for arm in ("baseline", "advised")}
    slip = {"baseline": [p.baseline.slippage_bps for p in pairs], "advisor": [p.advised.slippage_bps for p in pairs]}
    notional = {"baseline": [p.baseline.shortfall_notional for p in pairs if p.baseline.filled_qty],
                "advisor": [p.advised.shortfall_notional for p in pairs if p.advised.filled_qty]}
    tails = {k: _tail_quantiles(v) for k, v in slip.items()}
    reasons = Counter(p.fallback_reason or "applied" for p in pairs)
    handoff = "".join(f"<tr><td class='l'>{escape(k)}</td><td class='l'><code>{escape(str(evidence.get(k)))}</code>"
                      f"</td></tr>" for k in ("repository", "base", "head", "designDoc", "riskConfigPath",
                                              "artifactPath", "evaluationWindow"))
    sections = [
        f'<section id="verdict"><h2>Promotion verdict</h2><span class="verdict {escape(verdict)}">'
        f'{escape(verdict.upper())}</span>{_criteria(criteria)}</section>',
        f'<section id="summary"><h2>Baseline vs advisor</h2>{_summary(base, adv)}</section>',
        '<section id="distributions"><h2>Slippage and shortfall distributions</h2><div class="grid">'
        + svg.histogram("Slippage per order (Torghut bps)", "slippage bps (positive = cost)", slip)
        + svg.histogram("Shortfall notional per order", "dir × (avg fill − arrival) × filled", notional)
        + "</div></section>",
        '<section id="tails"><h2>Tails</h2><div class="grid">'
        + svg.lines("Upper quantiles of shortfall (p50 … p100)", "percentile", "bps", tails)
        + svg.bars("Fill rate", "filled / ordered shares", ["all orders"],
                   {"baseline": [base.fill_rate], "advisor": [adv.fill_rate]})
        + "</div></section>",
        '<section id="pnl"><h2>Net-after-cost PnL</h2><div class="grid">'
        + svg.lines("Cumulative net-after-cost PnL", "seconds since first order", "currency",
                    {"baseline": (xs, cum["baseline"]), "advisor": (xs, cum["advised"])})
        + f"</div><p class='meta'>Per order: −(Torghut shortfall notional + unfilled shares × dir × (horizon mid − "
          f"arrival) + fees of {fee_bps:g} bps on filled notional).</p></section>",
        f'<section id="regimes"><h2>Per regime</h2>{_regimes(regimes)}'
        + (f"<h3>By the state's liquidity regime at arrival</h3>{_regimes(by_state, charts=False)}" if by_state else "")
        + "<p class='meta'>A regime is judged with at least 6 orders filled in both arms (Torghut's minimum "
          "per symbol and regime); the advisor wins it when its mean slippage is not above the baseline's, "
          "its fill rate not more than 2 points below and its net-after-cost PnL not below.</p></section>",
        f'<section id="divergence"><h2>Divergence over time</h2>{_divergence(order, t0)}</section>',
        f'<section id="calibration"><h2>Calibration (KS per dimension)</h2>'
        f'{_calibration(calibration, market.get("notes", []))}{_windows(windows)}</section>',
        '<section id="advice"><h2>How the advice was applied</h2>'
        + _table(["decision at arrival", "orders"], [[escape(k), str(v)] for k, v in sorted(reasons.items())])
        + "<h3>By what the advisor arm ran (order type / urgency tier x horizon stretch)</h3>"
        + _regimes(by_policy, charts=False, label="advisor arm policy")
        + "<p class='meta'>A tightened order gets the time Torghut gives it (1-3x the horizon, by how much the "
          "advice slows it: baseline cap / advised cap x baseline pace / advised pace); a low tier is expressed "
          "as that time. The advisor arm is judged, fill rate included, at the end of its own horizon; a "
          "passive order fills only when flow reaches it.</p>"
        + "</section>",
        f'<section id="handoff"><h2>Handoff</h2><table>{handoff}</table></section>',
    ]
    sources = ", ".join(escape(s["path"]) for s in market.get("sources", [])) or escape(str(market.get("kind")))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
            f"<p class='meta'>Market: {escape(str(market.get('kind')))} {escape(str(market.get('symbol')))} "
            f"({sources}); {len(pairs)} orders; {escape('; '.join(market.get('notes', [])))}. "
            f"Method and assumptions: docs/replay.md. Report generated (wall clock, not part of the evidence): "
            f"{escape(generated_at)}</p>{''.join(sections)}</body></html>\n")
