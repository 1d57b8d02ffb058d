"""`microexec replay`: baseline vs advisor-bounded execution of the same orders; report + gate evidence.

    microexec replay --market FILES... | simulated[:seed] [--orders FILE | --generate N] --out DIR

Writes ``report.html`` (self-contained), ``gate_evidence.json`` (byte-identical for the same
inputs), ``risk_config.json``, ``orders.jsonl`` and ``results.jsonl`` into ``--out``. Bad input
(missing file, wrong format, bad orders) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from consumers.advisor.processor import AdvisorProcessor
from microexec.replay import evidence as ev
from microexec.replay.html import render
from microexec.replay.metrics import criteria, regime_table, summarize
from microexec.replay.run import (
    OrdersInputError,
    ReplayConfig,
    default_orders,
    execute_orders,
    load_orders,
    order_dict,
)
from microexec.replay.simulated import load_simulated_market, parse_simulated
from microexec.replay.sources import Market, MarketInputError, load_recorded_market
from microexec.replay.timeline import build_timeline
from microexec.sample_data import ROOT
from producers.paper.policy_map import PaperConfig
from streams.timeutil import format_ts_ns


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(":", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO:HI, got {text!r}") from None
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI, got {text!r}")
    return lo, hi


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("replay", help="offline replay report: does the advisor lower execution cost?")
    p.add_argument("--market", nargs="+", required=True,
                   help="LOBSTER *_message_* CSV, Binance hftbacktest .gz files, Torghut JSON dumps, "
                        "or simulated[:seed]")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--orders", type=Path, help="JSON lines of parent orders (PaperOrder fields)")
    src.add_argument("--generate", type=int, default=200, help="seeded parent orders to generate (default 200)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated orders and of each order's market path")
    p.add_argument("--limit", type=int, help="recorded feed records to read (a slice)")
    p.add_argument("--seconds", type=float, default=1800.0, help="simulated market length (s)")
    p.add_argument("--symbols", type=int, default=1, help="simulated market symbols")
    p.add_argument("--segment", type=float, default=60.0, help="simulated regime segment length (s)")
    p.add_argument("--regime", choices=("calm", "stressed", "shock"),
                   help="simulated market: force one regime instead of the seeded schedule")
    p.add_argument("--tick-size", type=float, default=None,
                   help="tick of the recorded market (default: 0.01 for LOBSTER and Binance; a Torghut dump's is "
                        "read off its prices' decimals, per symbol, at most 0.01)")
    p.add_argument("--calibration-window", type=float, default=0.0,
                   help="recorded market: one model per window of this many seconds (default 0: one for the slice)")
    p.add_argument("--quantity", type=_range, help="generated order size LO:HI (model units)")
    p.add_argument("--horizon", type=_range, default=(30.0, 120.0), help="generated order horizon LO:HI (s)")
    p.add_argument("--participation", type=float, default=0.10, help="baseline participation rate")
    p.add_argument("--order-type", choices=("market", "limit"), default="market", help="baseline order type")
    p.add_argument("--fee-bps", type=float, default=0.0, help="fees on filled notional, for net-after-cost PnL")
    for flag, what in (("--repository", "repository"), ("--base", "base commit"), ("--head", "head commit"),
                       ("--design-doc", "design document"), ("--risk-config", "risk configuration path")):
        p.add_argument(flag, help=f"handoff {what} (default: from git / generated)")
    p.set_defaults(func=_replay)


def _fail(message: object) -> int:
    print(f"microexec replay: {message}", file=sys.stderr)
    return 2


def _load_market(args: argparse.Namespace, progress: Progress) -> Market:
    task = progress.add_task("reading market", total=args.limit)
    say = lambda msg: progress.update(task, description=msg)  # noqa: E731
    tick = lambda n: progress.update(task, completed=n)  # noqa: E731
    seed = parse_simulated(args.market[0])
    if seed is not None:
        if len(args.market) != 1:
            raise MarketInputError("a simulated market takes no files")
        market = load_simulated_market(seed, seconds=args.seconds, n_symbols=args.symbols, segment_s=args.segment,
                                       regime=args.regime, tick=tick, say=say)
    else:
        if args.regime:
            raise MarketInputError("--regime applies to a simulated market only")
        market = load_recorded_market([Path(m) for m in args.market], limit=args.limit, tick_size=args.tick_size,
                                      window_s=args.calibration_window, tick=tick, say=say)
    progress.update(task, description="market ready", total=len(market.feed), completed=len(market.feed))
    return market


def _replay(args: argparse.Namespace) -> int:
    try:
        paper = PaperConfig(participation_rate=args.participation, order_type=args.order_type)
        cfg = ReplayConfig(seed=args.seed, paper=paper, fee_bps=args.fee_bps)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, transient=True) as progress:
            market = _load_market(args, progress)
            orders = load_orders(args.orders) if args.orders else \
                default_orders(market, args.generate, args.seed,
                               None if args.quantity is None else (round(args.quantity[0]), round(args.quantity[1])),
                               args.horizon)
            task = progress.add_task("state + advisor processors", total=None)
            advisor = AdvisorProcessor()
            timeline = build_timeline(market.feed, advisor, say=lambda m: progress.update(task, description=m))
            progress.update(task, total=1, completed=1)
            ex = progress.add_task("executing orders (both arms)", total=len(orders))
            pairs = execute_orders(market, timeline, orders, cfg, step=lambda: progress.advance(ex))
    except (MarketInputError, OrdersInputError, ValueError, OSError) as exc:
        return _fail(exc)
    write_outputs(args, market, orders, pairs, timeline.count("state"), timeline.count("advice"),
                  timeline.dead_letters, cfg, advisor)
    verdict = json.loads((args.out / "gate_evidence.json").read_text())["verdict"]
    print(f"{len(pairs)} orders on {market.kind} {','.join(market.symbols)}: verdict {verdict.upper()} -> "
          f"{args.out / 'report.html'}, {args.out / 'gate_evidence.json'}")
    return 0


def write_outputs(args: argparse.Namespace, market: Market, orders: list[Any], pairs: list[Any], n_states: int,
                  n_advice: int, dead: int, cfg: ReplayConfig, advisor: AdvisorProcessor) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    base = summarize([p.baseline for p in pairs], cfg.fee_bps)
    adv = summarize([p.advised for p in pairs], cfg.fee_bps)
    regimes = regime_table(pairs, fee_bps=cfg.fee_bps)
    # On the simulated market the grouping regime is the schedule's; the state's view is kept beside it.
    by_state = regime_table(pairs, key=lambda p: p.liquidity_regime, fee_bps=cfg.fee_bps) \
        if market.kind == "simulated" else []
    by_policy = regime_table(pairs, key=lambda p: p.advised_policy, fee_bps=cfg.fee_bps)
    crit = criteria(base, adv, regimes)
    risk_path = Path(args.risk_config) if args.risk_config else out / "risk_config.json"
    if not args.risk_config:
        risk_path.write_text(ev.canonical({"client_rules": asdict(cfg.rules), "paper_baseline": asdict(cfg.paper),
                                           "advisor_baseline": asdict(advisor.config.baseline),
                                           "advisor_config_hash": advisor.config_hash}))
    git = ev.git_info(ROOT)
    order_rows = [order_dict(o) for o in orders]
    window = {"start": format_ts_ns(min(o.submitted_ns for o in orders)) if orders else None,
              "end": format_ts_ns(max(o.end_ns for o in orders)) if orders else None,
              "marketStart": format_ts_ns(market.start_ns), "marketEnd": format_ts_ns(market.end_ns),
              "orders": len(orders)}
    handoff = {"repository": args.repository or git["repository"], "base": args.base or git["base"],
               "head": args.head or git["head"], "designDoc": args.design_doc or ev.DEFAULT_DESIGN_DOC,
               "riskConfigPath": str(risk_path), "artifactPath": str(out), "evaluationWindow": window}
    body = {
        "summary": {"baseline": base.to_dict(), "advisor": adv.to_dict()},
        "regimes": [r.to_dict() for r in regimes],
        "liquidityRegimes": [r.to_dict() for r in by_state],
        "byAdvisedPolicy": [r.to_dict() for r in by_policy],
        "market": {"kind": market.kind, "symbols": market.symbols, "sources": market.sources, "notes": market.notes,
                   "calibration": [asdict(d) for d in market.calibration],
                   "calibrationWindows": market.windows},
        "run": {"seed": cfg.seed, "fee_bps": cfg.fee_bps, "warmup_s": cfg.warmup_s, "orders": len(orders),
                "state_records": n_states, "advice_records": n_advice, "dead_letters": dead,
                "advice_applied": sum(p.applied for p in pairs),
                "decisions": dict(sorted(Counter(p.fallback_reason or "applied" for p in pairs).items())),
                "advisor_config_hash": advisor.config_hash, "advisor_version": advisor.version},
        "ordersDigest": ev.digest(order_rows),
        "resultsDigest": ev.digest([p.to_dict() for p in pairs]),
    }
    evidence = ev.gate_evidence(handoff, [c.to_dict() for c in crit], body)
    (out / "gate_evidence.json").write_text(ev.canonical(evidence))
    (out / "orders.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in order_rows))
    (out / "results.jsonl").write_text("".join(json.dumps(ev.clean(p.to_dict()), sort_keys=True) + "\n"
                                               for p in pairs))
    title = f"Advisor vs baseline: {market.kind} {', '.join(market.symbols)}"
    html = render(title=title, market={"kind": market.kind, "symbol": ", ".join(market.symbols),
                                       "sources": market.sources, "notes": market.notes},
                  pairs=pairs, base=base, adv=adv, regimes=regimes, by_state=by_state, by_policy=by_policy,
                  criteria=crit,
                  calibration=market.calibration, windows=market.windows,
                  evidence=evidence, generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  fee_bps=cfg.fee_bps)
    (out / "report.html").write_text(html)
