"""The demo's end-of-run report from the paper split book: thin on purpose.

The HTML promotion report and gate evidence are the replay's own (``microexec.replay.paper_report``
turns the executor's rows into the replay's); beside them this writes ``paper_summary.json``: per arm (``baseline`` /
``advisor``), what TCA measured (divergence records: mean slippage, p95 realized shortfall, mean
|divergence|), what the order events say (fill rate), and what the executor's simulation said
(fill rate, shortfall of the fills, and the full shortfall that marks unfilled shares at the end
mid, overall and per regime).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from microexec.replay.paper_report import write_paper_report

ARMS = ("baseline", "advisor")


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p95": None}
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95))}


def divergence_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per ``strategy`` (= the trade-update's accountLabel): TCA's numbers."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by[str(r.get("strategy") or "unlabelled")].append(r)
    out = {}
    for arm, rows in sorted(by.items()):
        divs = [abs(r["divergence_bps"]) for r in rows if r.get("divergence_bps") is not None]
        out[arm] = {"records": len(rows),
                    "slippage_bps": _stats([r["slippage_bps"] for r in rows]),
                    "realized_shortfall_bps": _stats([r["realized_shortfall_bps"] for r in rows]),
                    "mean_abs_divergence_bps": float(np.mean(divs)) if divs else None}
    return out


def trade_update_summary(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per ``accountLabel``: orders, shares asked, shares filled (last event per order), fill rate."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for env in envelopes:
        order = env["payload"]["order"]
        last[(str(env.get("accountLabel")), str(order["id"]))] = order
    out: dict[str, Any] = {}
    for (arm, _), order in sorted(last.items()):
        s = out.setdefault(arm, {"orders": 0, "qty": 0.0, "filled_qty": 0.0, "completed": 0})
        s["orders"] += 1
        s["qty"] += float(order["qty"])
        s["filled_qty"] += float(order["filled_qty"])
        s["completed"] += int(float(order["filled_qty"]) >= float(order["qty"]))
    for s in out.values():
        s["fill_rate"] = s["filled_qty"] / s["qty"] if s["qty"] else None
    return out


def executor_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm from the executor's own result lines, overall and per simulated regime."""
    out: dict[str, Any] = {}
    for arm in ARMS:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in results:
            groups["all"].append(r)
            groups[f"regime:{r['regime']}"].append(r)
        out[arm] = {}
        for g, rows in sorted(groups.items()):
            qty = sum(r["quantity"] for r in rows)
            out[arm][g] = {"orders": len(rows),
                           "fill_rate": sum(r[arm]["filled_qty"] for r in rows) / qty if qty else None,
                           "shortfall_bps": _stats([r[arm]["shortfall_bps"] for r in rows
                                                    if r[arm]["shortfall_bps"] is not None]),
                           "full_shortfall_bps": _stats([r[arm]["full_shortfall_bps"] for r in rows])}
    out["advice_applied"] = sum(1 for r in results if r["advice"]["applied"])
    return out


def write_report(out_dir: Path, divergence: list[dict[str, Any]], trade_updates: list[dict[str, Any]],
                 results: list[dict[str, Any]], meta: dict[str, Any]) -> list[Path]:
    """Write the report files into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = write_paper_report(out_dir, results, meta)
    summary = {"schema": "microexec.paper_summary.v1", "meta": meta,
               "tca": divergence_summary(divergence),
               "trade_updates": trade_update_summary(trade_updates),
               "executor": executor_summary(results)}
    path = out_dir / "paper_summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    records = out_dir / "divergence.jsonl"
    records.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in divergence))
    return [*paths, path, records]
