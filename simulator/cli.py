"""``microexec simulate``, ``microexec calibrate`` and ``microexec shortfall``.

Errors in the inputs (missing file, wrong columns, bad JSON) are reported in one line naming the
file and the problem, with exit code 2; they are the user's to fix, not stack traces.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.version import SIMULATOR_VERSION

err = Console(stderr=True)


def _fail(message: object) -> int:
    """One unwrapped line on stderr (rich would wrap long paths), exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("simulate", help="run the Hawkes market model and print a summary and digest")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--seconds", type=float, required=True, help="simulated seconds")
    p.add_argument("--params", type=Path, help="params JSON from `microexec calibrate` (default: illustrative)")
    p.add_argument("--flow", choices=("cluster", "thinning"), default="cluster")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_simulate)

    c = subparsers.add_parser("calibrate", help="fit the market model to LOBSTER or Torghut JSON files")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--out", type=Path, required=True, help="params JSON to write")
    c.add_argument("--tick-size", type=float, default=None,
                   help="default: 0.01 for LOBSTER and Binance; Torghut JSON: its quoted prices' finest decimal, "
                        "at most 0.01")
    c.add_argument("--size-unit", type=float, default=None,
                   help="size of one model unit (default: shares for LOBSTER, 1e-5 BTC for Binance; Torghut JSON: "
                        "its sizes' finest decimal)")
    c.add_argument("--symbol", help="Torghut JSON of several symbols: the one to calibrate")
    c.add_argument("--start", type=float, help="LOBSTER: window start, seconds after midnight")
    c.add_argument("--end", type=float, help="LOBSTER: window end, seconds after midnight")
    c.add_argument("--flow-model", choices=("exp", "select"), default="exp",
                   help="select: also fit multi-scale models (time-varying baseline, several time scales) "
                        "and keep the one BIC chooses")
    c.add_argument("--own-age", action="store_true",
                   help="also fit own-age factors (a factor per class of the time since a type's own last "
                        "event) on the best multi-scale model and keep them if BIC prefers them; implies "
                        "--flow-model select")
    c.add_argument("--debatch", action="store_true",
                   help="Binance recordings only: spread the messages of one network packet over the interval "
                        "it formed in (seeded; simulator/calibration/debatch.py), recorded in the params' "
                        "metadata; the recorder's receive clock otherwise carries the packet batching")
    c.set_defaults(func=cmd_calibrate)

    s = subparsers.add_parser("shortfall", help="Monte Carlo shortfall distribution of a parent order")
    s.add_argument("--params", type=Path, help="params JSON (default: illustrative model)")
    s.add_argument("--symbol", default="SIM")
    s.add_argument("--order-id", required=True)
    s.add_argument("--side", choices=("buy", "sell"), default="buy")
    s.add_argument("--qty", type=int, help="shares (default: 1%% of expected volume over the horizon)")
    s.add_argument("--horizon", type=float, default=300.0, help="seconds")
    s.add_argument("--paths", type=int, default=1000)
    s.add_argument("--order-type", choices=("passive", "marketable"), default="passive")
    s.add_argument("--participation", type=float, default=0.1)
    s.add_argument("--urgency", choices=("low", "normal", "high"), default="normal")
    s.add_argument("--offset-bps", type=float, default=0.0)
    s.add_argument("--finish-marketable", action="store_true")
    s.set_defaults(func=cmd_shortfall)


def _load_model(params: Path | None, symbol: str) -> Any:
    from simulator.market.model import MarketModel, illustrative_model

    if params is None:
        return illustrative_model()
    return MarketModel.load(params)


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator.market.run import simulate_market
    from simulator.market.types import DIM_NAMES
    from simulator.montecarlo import seed_sequence_for

    if not args.seconds > 0:
        return _fail("--seconds must be positive")
    try:
        model = _load_model(args.params, args.symbol)
    except (OSError, ValueError) as exc:
        return _fail(exc)
    ss = seed_sequence_for(f"simulate:{args.symbol}", salt=str(args.seed))
    with err.status(f"simulating {args.seconds:g} s of {args.symbol}"):
        run = simulate_market(model, args.seconds, ss, flow=args.flow)
    rec = run.records
    counts = np.bincount(rec[:, 0], minlength=len(DIM_NAMES)) if len(rec) else np.zeros(len(DIM_NAMES), int)
    spread = (rec[:, 4] - rec[:, 3]) if len(rec) else np.zeros(0)
    tick = model.tick_size
    summary = {
        "symbol": args.symbol,
        "seed": args.seed,
        "seconds": args.seconds,
        "simulator_version": SIMULATOR_VERSION,
        "params": str(args.params) if args.params else "illustrative",
        "events": int(run.stats["events"]),
        "events_by_type": dict(zip(DIM_NAMES, counts.tolist(), strict=True)),
        "market_volume": run.stats["market_volume"],
        "refills": run.stats["refills"],
        "inside_dropped": run.stats["inside_dropped"],
        "cancel_noop": run.stats["cancel_noop"],
        "spread_ticks_mean": float(spread.mean()) if spread.size else math.nan,
        "mid_start": model.ref_price,
        "mid_end": round((run.final_book.mid or math.nan) * tick, 8),
        "best_bid_end": round((run.final_book.best_bid or 0) * tick, 8),
        "best_ask_end": round((run.final_book.best_ask or 0) * tick, 8),
        "book_valid": run.invariant_code == 0,
        "digest": run.digest,
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    con = Console()
    table = Table(title=f"{args.symbol}: {args.seconds:g} s simulated, seed {args.seed}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        if k in ("events_by_type", "digest"):
            continue
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    for k, v in summary["events_by_type"].items():
        table.add_row(f"  {k}", str(v))
    con.print(table)
    print(f"digest {run.digest}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from simulator.calibration import calibrate, load_recorded

    try:
        with err.status("reading and mapping events"):
            flow = load_recorded(args.files, tick_size=args.tick_size, size_unit=args.size_unit,
                                 start_s=args.start, end_s=args.end, symbol=args.symbol,
                                 debatch=bool(getattr(args, "debatch", False)))
    except (OSError, ValueError) as exc:
        return _fail(exc)
    err.print(f"{len(flow)} events over {flow.horizon:.0f} s from {flow.source}")
    try:
        with err.status("fitting the Hawkes model (maximum likelihood, free decays)") as status:
            own_age = bool(getattr(args, "own_age", False))
            cal = calibrate(flow, progress=lambda m: status.update(m),
                            flow_model="select" if own_age else getattr(args, "flow_model", "exp"), bins=(1, 3),
                            own_age=own_age)
    except ValueError as exc:
        return _fail(exc)
    try:
        cal.model.save(args.out)
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc}")
    table = Table(title=f"{flow.symbol}: time-rescaling KS per dimension "
                        f"(spectral radius {cal.fit.spectral_radius:.3f}, converged {cal.fit.converged})")
    for col in ("dimension", "events", "KS statistic", "p-value", "rate (data)", "rate (model)"):
        table.add_column(col, justify="right" if col != "dimension" else "left")
    for d in cal.dims:
        table.add_row(d.name, str(d.n_events),
                      f"{d.ks_statistic:.4f}" if d.fitted else "not fitted (no events)",
                      f"{d.ks_pvalue:.3g}" if d.fitted else "-",
                      f"{d.empirical_rate:.4f}", f"{d.model_rate:.4f}")
    Console().print(table)
    if cal.choice is not None:
        kept_age = cal.model.own_age is not None
        for c in cal.choice.candidates:
            err.print(f"{c.name}: {c.n_params} parameters, log-likelihood {c.loglik:.1f}, BIC {c.bic:.0f}"
                      f"{'  <- chosen' if c is cal.choice.best and not kept_age else ''}", soft_wrap=True)
        if cal.own_age_fit is not None:
            a = cal.own_age_fit
            err.print(f"{cal.own_age_name}: {a.n_params} parameters, log-likelihood {a.loglik:.1f}, BIC {a.bic:.0f}"
                      f"{'  <- chosen' if kept_age else ''}", soft_wrap=True)
    print(f"wrote {args.out}")
    return 0


def cmd_shortfall(args: argparse.Namespace) -> int:
    from simulator.execution import ExecutionPolicy, ParentOrder
    from simulator.montecarlo import reference_order, shortfall_monte_carlo

    try:
        model = _load_model(args.params, args.symbol)
        order = (ParentOrder(args.order_id, args.side, args.qty, args.horizon) if args.qty
                 else reference_order(model, args.order_id, args.side, args.horizon))
        policy = ExecutionPolicy(participation_cap=args.participation, order_type=args.order_type,
                                 urgency_schedule=((0.0, args.urgency),), quote_offset_bps=args.offset_bps,
                                 finish_marketable=args.finish_marketable)
    except (OSError, ValueError) as exc:
        return _fail(exc)
    with Progress(TextColumn("paths"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as prog:
        task = prog.add_task("mc", total=args.paths)
        res = shortfall_monte_carlo(model, order, policy, args.paths,
                                    progress=lambda n: prog.update(task, completed=n) if n % 50 == 0 else None)
    out = res.to_dict() | {"quantity": order.quantity, "side": order.side, "horizon_s": order.horizon_s}
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="simulator")
    register(parser.add_subparsers(dest="command", required=True))
    a = parser.parse_args()
    sys.exit(a.func(a))
