"""`microexec demo`: the pipeline end to end on recorded market data.

Replays real recordings (LOBSTER AMZN, Binance BTCUSDT with its L2 depth) into Torghut's topics,
runs the state and advisor consumers as their own processes until they have caught up, and shows
what Torghut would read: the latest state and advice per symbol and the client's decision against
a baseline order.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from consumers.torghut_client.book import AdviceBook, BaselineOrder
from consumers.torghut_client.subscriber import AdviceSubscriber
from microexec.sample_data import DATA_DIR as DATA
from microexec.sample_data import ROOT
from producers.binance import binance_records
from producers.lobster import lobster_records
from producers.replay import replay
from streams.admin import create_catalog_topics
from streams.settings import Settings, SettingsError, load_settings
from streams.timeutil import parse_ts_ns
from streams.topics import topic


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="replay recorded data through state and advisor consumers")
    demo.add_argument("--records", type=int, default=20_000, help="records per recording to replay")
    demo.add_argument("--timeout", type=float, default=180.0)
    demo.set_defaults(func=_demo)


def _lag(settings: Settings, group: str, topics: list[str]) -> int:
    consumer = Consumer({**settings.kafka_common(), "group.id": group})
    try:
        total = 0
        for name in topics:
            parts = [TopicPartition(name, p) for p in consumer.list_topics(name, timeout=10).topics[name].partitions]
            committed = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=30)}
            for tp in parts:
                high = consumer.get_watermark_offsets(tp, timeout=10)[1]
                total += high - max(committed.get(tp.partition, 0), 0)
        return total
    finally:
        consumer.close()


def _demo(args: argparse.Namespace) -> int:
    console = Console(width=None if sys.stdout.isatty() else 180)
    # Every run gets its own topics and groups, so a demo can be repeated on the same stack and
    # never mixes with a real deployment's data.
    run_id = time.strftime("%Y%m%d%H%M%S")
    for key in ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "calibration", "shortfall",
                "tca_divergence", "alerts", "dlq"):
        os.environ[f"MICROEXEC_TOPIC_{key.upper()}"] = f"demo-{run_id}.{key}"
    try:
        settings = load_settings()
    except SettingsError as exc:
        console.print(f"[red]microexec demo: {exc}")
        return 2
    amzn = DATA / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
    btc = sorted((DATA / "binance").glob("*.gz"))
    if not amzn.exists() or not btc:
        console.print(f"[red]microexec demo: recorded data not found under {DATA} (set MICROEXEC_DATA_DIR)")
        return 2
    create_catalog_topics(settings)
    console.print(f"replaying {args.records:,} AMZN (LOBSTER) and {args.records:,} BTCUSDT (Binance) records ...")
    sent = replay(settings, lobster_records(amzn, limit=args.records), total=args.records)
    sent += replay(settings, binance_records(btc, limit=args.records), total=args.records)
    console.print(f"{sent:,} records in {topic('quotes')}, {topic('trades')}, {topic('book_l2')}")

    groups = {name: f"demo-{run_id}-{name}" for name in ("state", "advisor")}
    procs = {name: subprocess.Popen([sys.executable, "-m", "microexec.cli", "run", name, "--app-id", group,
                                     "--log-level", "WARNING"],
                                    cwd=ROOT, env={**os.environ, "MICROEXEC_INSTANCE_ID": group})
             for name, group in groups.items()}
    inputs = {"state": (groups["state"], [topic("quotes"), topic("trades"), topic("book_l2")]),
              "advisor": (groups["advisor"], [topic("state")])}
    deadline = time.monotonic() + args.timeout
    try:
        with console.status("consumers catching up ...") as status:
            while time.monotonic() < deadline:
                time.sleep(2.0)
                lags = {name: _lag(settings, group, names) for name, (group, names) in inputs.items()}
                status.update(f"consumers catching up: lag {lags}")
                if all(v == 0 for v in lags.values()):
                    break
                if any(p.poll() is not None for p in procs.values()):
                    console.print("[red]a consumer exited early; see its output above")
                    return 1
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(60)

    book = AdviceBook()
    client = AdviceSubscriber(book, settings.kafka_common(), settings.schema_registry_url)
    client.assign()
    client.catch_up(30)
    client.close()
    table = Table(title="What Torghut reads (latest per symbol)")
    for column in ("symbol", "event_ts", "spread bps", "depth5 USD (src)", "OFI", "fill hazard", "regime",
                   "urgency", "max part.", "order type", "AS risk", "decision (baseline 10% market)"):
        table.add_column(column)
    for symbol in book.symbols():
        state, advice = book.latest(symbol)
        if state is None:
            continue
        answer = book.advice_for(symbol, parse_ts_ns(state["event_ts"]), BaselineOrder(0.10, "market"))
        decision = (f"apply: {answer.participation_rate:.3f} {answer.order_type}" if answer.applied
                    else f"baseline ({answer.fallback_reason})")
        table.add_row(symbol, state["event_ts"], f"{state['spread_bps']:.2f}",
                      f"{state['depth_top5_usd']:,.0f} ({state['depth_source']})",
                      f"{state['order_flow_imbalance']:+.2f}", f"{state['fill_hazard']:.2f}",
                      state["liquidity_regime"], (advice or {}).get("urgency_tier", "-"),
                      f"{(advice or {}).get('max_participation_rate', float('nan')):.3f}",
                      (advice or {}).get("preferred_order_type", "-"),
                      f"{(advice or {}).get('adverse_selection_risk', float('nan')):.2f}", decision)
    console.print(table)
    console.print(f"tail the topics with: microexec tail {topic('advice')} --from-beginning")
    return 0
