"""`microexec paper run`: the split-book paper executor against the live topics."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from confluent_kafka import KafkaException
from rich.console import Console

from producers.paper.executor import ExecutorConfig, ExecutorError, ExecutorStats, PaperExecutor, write_results
from producers.paper.policy_map import PaperConfig
from producers.simulated_market.cli import add_market_args, start_ns
from producers.simulated_market.symbols import symbol_names
from streams.serde import RegistryUnavailable
from streams.settings import SettingsError, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    paper = subparsers.add_parser("paper", help="paper split-book executor (baseline vs advisor)")
    actions = paper.add_subparsers(dest="paper_command", required=True)
    run = actions.add_parser("run", help="work seeded parents twice on the simulated market, emit trade-updates")
    add_market_args(run)
    run.add_argument("--orders", type=int, default=20, help="number of parent orders")
    run.add_argument("--participation", type=float, default=0.10, help="baseline participation rate")
    run.add_argument("--order-type", choices=("market", "limit"), default="market", help="baseline order type")
    run.add_argument("--results-out", help="write one JSON line per parent here")
    run.add_argument("--decision-wait", type=float, default=10.0, help="wall seconds to wait for advice past arrival")
    run.add_argument("--timeout", type=float, default=900.0, help="wall seconds before the run fails")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        if args.orders < 0 or args.symbols < 1 or args.seconds <= 0 or args.timeout <= 0:
            raise ValueError("need --orders >= 0, --symbols >= 1, --seconds > 0, --timeout > 0")
        cfg = ExecutorConfig(seed=args.seed, symbols=symbol_names(args.symbols), start_ns=start_ns(args.start),
                             seconds=args.seconds, n_orders=args.orders, segment_s=args.segment,
                             paper=PaperConfig(participation_rate=args.participation, order_type=args.order_type),
                             decision_wait_s=args.decision_wait, timeout_s=args.timeout)
        executor = PaperExecutor(load_settings(), cfg)
    except (ValueError, SettingsError) as exc:
        err.print(f"microexec paper run: {exc}")
        return 2
    stop = executor.stop

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def progress(stats: ExecutorStats) -> None:
        err.print(f"paper: {stats.decided}/{stats.orders} parents worked "
                  f"(advice applied {stats.advice_applied}, decided on timeout {stats.decided_on_timeout})")

    try:
        stats = executor.run(progress)
    except (ExecutorError, KafkaException, RegistryUnavailable) as exc:
        err.print(f"microexec paper run: {exc}")
        return 143 if stop.is_set() else 3
    if args.results_out:
        write_results(args.results_out, stats)
    print(f"paper: {stats.decided} parents, {stats.trade_updates} trade-updates, advice applied to "
          f"{stats.advice_applied}, risk-rejected {stats.risk_rejected}, decided on timeout {stats.decided_on_timeout}")
    return 0
