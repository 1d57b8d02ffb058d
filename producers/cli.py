"""`microexec feed replay`: recorded market data into the Torghut topics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import KafkaException

from producers.binance import BinanceFormatError, binance_records
from producers.lobster import LobsterFormatError, lobster_records
from producers.paper import cli as paper_cli
from producers.records import FeedRecord
from producers.replay import replay
from producers.simulated_market import cli as simulated_cli
from producers.torghut_dump import TorghutDumpError, torghut_dump_records
from streams.serde import RegistryUnavailable
from streams.settings import SettingsError, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    feed = subparsers.add_parser("feed", help="market data feeds")
    actions = feed.add_subparsers(dest="feed_command", required=True)
    rep = actions.add_parser("replay", help="replay LOBSTER or Binance recordings as Torghut records")
    source = rep.add_mutually_exclusive_group(required=True)
    source.add_argument("--lobster", type=Path, help="LOBSTER *_message_*.csv (order book file beside it)")
    source.add_argument("--binance", type=Path, nargs="+", help="hftbacktest Binance .gz recordings, in order")
    source.add_argument("--torghut", type=Path, nargs="+",
                        help="Torghut JSON dumps (quotes, trades, trade-updates envelopes; JSON lines or arrays)")
    rep.add_argument("--symbol", help="override the symbol (LOBSTER, Binance)")
    rep.add_argument("--speed", type=float, default=0.0, help="1 = real time, 10 = ten times faster, 0 = no pacing")
    rep.add_argument("--limit", type=int, help="stop after this many records")
    rep.add_argument("--unordered", action="store_true",
                     help="skip the ordering barriers (a flush every MICROEXEC_LATENESS_MS / 2 of event time) that "
                          "keep live consumers' event-time contract; for loading a backlog nobody reads meanwhile")
    rep.set_defaults(func=_replay)
    simulated_cli.register(actions)
    paper_cli.register(subparsers)


def _records(args: argparse.Namespace) -> Iterator[FeedRecord]:
    if args.lobster:
        return lobster_records(args.lobster, symbol=args.symbol, limit=args.limit)
    if args.torghut:
        return iter(torghut_dump_records(list(args.torghut))[:args.limit])
    return binance_records(list(args.binance), symbol=args.symbol, limit=args.limit)


def _replay(args: argparse.Namespace) -> int:
    for path in [args.lobster] if args.lobster else args.torghut or args.binance:
        if not path.exists():
            print(f"microexec feed replay: no such file {path}", file=sys.stderr)
            return 2
    try:
        sent = replay(load_settings(), _records(args), speed=args.speed, total=args.limit, ordered=not args.unordered)
    except (SettingsError, LobsterFormatError, BinanceFormatError, TorghutDumpError, KafkaException,
            RegistryUnavailable) as exc:
        print(f"microexec feed replay: {exc}", file=sys.stderr)
        return 2
    print(f"replayed {sent:,} records")
    return 0
