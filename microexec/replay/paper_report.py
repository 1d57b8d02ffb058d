"""The paper split book's run (the demo, `microexec paper run`) as the same report and gate evidence
`microexec replay` writes.

Why a separate adapter: the live paper executor and the offline replay both execute every parent
twice on the same seeded market; only where the rows come from differs. The executor's result rows
(one per parent: both arms' fills, arrival and horizon mids, the advice applied, the simulated
regime) become the replay's ``PairOutcome`` rows, and from there the figures, the promotion
criteria, ``gate_evidence.json`` and ``report.html`` are computed by the replay's own code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from microexec.replay import evidence as ev
from microexec.replay.html import render
from microexec.replay.metrics import criteria, regime_table, summarize
from microexec.replay.outcomes import ArmOutcome, PairOutcome, rejected_arm
from microexec.sample_data import ROOT
from streams.timeutil import format_ts_ns


def _arm(row: Mapping[str, Any], arm: Mapping[str, Any]) -> ArmOutcome:
    avg = arm.get("avg_fill_price")
    return ArmOutcome(quantity=int(row["quantity"]), filled_qty=int(arm["filled_qty"]),
                      avg_fill=math.nan if avg is None else float(avg), arrival=float(arm["arrival"]),
                      end_mid=float(arm["end_mid"]), direction=1 if row["side"] == "buy" else -1)


def pair_from_result(row: Mapping[str, Any]) -> PairOutcome:
    """One executor result row as a ``PairOutcome`` (a risk-rejected advisor arm sent nothing)."""
    advice = row["advice"]
    baseline = _arm(row, row["baseline"])
    advised = rejected_arm(baseline) if advice.get("risk_rejected") else _arm(row, row["advisor"])
    policy = f"{advice.get('order_type')} / {advice.get('urgency_tier')}" if advice.get("applied") else "baseline"
    return PairOutcome(order_id=str(row["order_id"]), symbol=str(row["symbol"]), side=str(row["side"]),
                       quantity=int(row["quantity"]), submitted_ns=int(row["submitted_ns"]),
                       horizon_s=float(row["horizon_s"]), regime=str(row["regime"]),
                       liquidity_regime=str(row.get("liquidity_regime") or "unknown"),
                       applied=bool(advice.get("applied")), fallback_reason=advice.get("fallback_reason"),
                       adverse_selection_risk=None, expected_shortfall_bps_p50=None,
                       baseline=baseline, advised=advised, advised_policy=policy,
                       advised_stretch=float(row.get("advised_stretch", 1.0)))


def write_paper_report(out_dir: Path, results: Sequence[Mapping[str, Any]], meta: Mapping[str, Any],
                       fee_bps: float = 0.0) -> list[Path]:
    """``report.html``, ``gate_evidence.json`` and ``results.jsonl`` of a paper run into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = [pair_from_result(r) for r in results]
    if not pairs:
        raise ValueError("the paper run decided no parent order: nothing to report")
    base = summarize([p.baseline for p in pairs], fee_bps)
    adv = summarize([p.advised for p in pairs], fee_bps)
    regimes = regime_table(pairs, fee_bps=fee_bps)
    by_policy = regime_table(pairs, key=lambda p: p.advised_policy, fee_bps=fee_bps)
    crit = criteria(base, adv, regimes)
    git = ev.git_info(ROOT)
    window = {"start": format_ts_ns(min(p.submitted_ns for p in pairs)),
              "end": format_ts_ns(max(p.submitted_ns + round(p.horizon_s * 1e9) for p in pairs)),
              "orders": len(pairs)}
    risk_path = out_dir / "risk_config.json"
    risk_path.write_text(ev.canonical({"paper": dict(meta.get("paper_config", {}))}))
    handoff = {"repository": git["repository"], "base": git["base"], "head": git["head"],
               "designDoc": "docs/paper.md", "riskConfigPath": str(risk_path), "artifactPath": str(out_dir),
               "evaluationWindow": window}
    body = {"summary": {"baseline": base.to_dict(), "advisor": adv.to_dict()},
            "regimes": [r.to_dict() for r in regimes], "byAdvisedPolicy": [r.to_dict() for r in by_policy],
            "market": {"kind": "paper", "meta": ev.clean(dict(meta))},
            "resultsDigest": ev.digest([p.to_dict() for p in pairs])}
    evidence = ev.gate_evidence(handoff, [c.to_dict() for c in crit], body)
    paths = [out_dir / "gate_evidence.json", out_dir / "results.jsonl", out_dir / "report.html"]
    paths[0].write_text(ev.canonical(evidence))
    paths[1].write_text("".join(ev.canonical(p.to_dict()) + "\n" for p in pairs))
    symbols = sorted({p.symbol for p in pairs})
    paths[2].write_text(render(
        title=f"Paper split book: advisor vs baseline, {', '.join(symbols)}",
        market={"kind": "paper (simulated live market)", "symbol": ", ".join(symbols), "sources": [],
                "notes": ["Each parent ran twice on the same seeded path of its symbol's model in the regime "
                          "in force (docs/paper.md); advice as Torghut's client applied it at arrival."]},
        pairs=pairs, base=base, adv=adv, regimes=regimes, by_state=[], by_policy=by_policy, criteria=crit,
        calibration=[], evidence=evidence, generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        fee_bps=fee_bps))
    return paths


__all__ = ["pair_from_result", "write_paper_report"]
