"""`microexec feed simulate`: the simulated live market into Torghut's quote/trade (and L2) topics."""

from __future__ import annotations

import argparse
import sys
import time

from confluent_kafka import KafkaException

from producers.replay import replay
from producers.simulated_market.feed import market_records
from producers.simulated_market.regimes import DEFAULT_SEGMENT_S, sidecar, write_sidecar
from producers.simulated_market.symbols import symbol_names
from streams.serde import RegistryUnavailable
from streams.settings import SettingsError, load_settings
from streams.timeutil import TimestampError, parse_ts_ns

DEFAULT_START = "2026-01-05T14:30:00Z"


def start_ns(text: str) -> int:
    """``now`` (the wall clock, whole seconds: live mode) or an ISO 8601 instant (reproducible)."""
    if text == "now":
        return time.time_ns() // 1_000_000_000 * 1_000_000_000
    try:
        return parse_ts_ns(text)
    except TimestampError as exc:
        raise ValueError(f"--start must be 'now' or an ISO 8601 instant: {exc}") from exc


def add_market_args(p: argparse.ArgumentParser) -> None:
    """The arguments that define the simulated market; the paper executor takes the same ones."""
    p.add_argument("--symbols", type=int, default=3, help="number of symbols (AMZN fitted, then SIM01...)")
    p.add_argument("--seconds", type=float, default=600.0, help="event-time length of the feed")
    p.add_argument("--seed", type=int, default=1, help="run seed: every record is a function of it")
    p.add_argument("--start", default=DEFAULT_START, help="event time of the start: ISO 8601 or 'now'")
    p.add_argument("--segment", type=float, default=DEFAULT_SEGMENT_S, help="regime segment length (s)")


def register(actions: argparse._SubParsersAction) -> None:
    sim = actions.add_parser("simulate", help="simulated live market (Hawkes book) as Torghut records")
    add_market_args(sim)
    sim.add_argument("--speed", type=float, default=1.0, help="1 = real time, 10 = ten times faster, 0 = unpaced")
    sim.add_argument("--l2-interval", type=float, default=0.0, help="seconds between L2 snapshots (0: none)")
    sim.add_argument("--schedule-out", help="write the regime schedule JSON sidecar here")
    sim.set_defaults(func=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    try:
        if args.symbols < 1 or args.seconds <= 0 or args.speed < 0 or args.l2_interval < 0 or args.segment <= 0:
            raise ValueError("need --symbols >= 1, --seconds > 0, --speed >= 0, --l2-interval >= 0, --segment > 0")
        t0 = start_ns(args.start)
        settings = load_settings()
    except (ValueError, SettingsError) as exc:
        print(f"microexec feed simulate: {exc}", file=sys.stderr)
        return 2
    symbols = symbol_names(args.symbols)
    if args.schedule_out:
        write_sidecar(args.schedule_out, sidecar(args.seed, symbols, t0, args.seconds, args.segment))
    records = market_records(args.seed, symbols, t0, args.seconds, segment_s=args.segment,
                             l2_interval_s=args.l2_interval)
    try:
        sent = replay(settings, records, speed=args.speed, stamp_ingest=True, show_progress=sys.stderr.isatty())
    except (KafkaException, RegistryUnavailable, RuntimeError) as exc:
        print(f"microexec feed simulate: {exc}", file=sys.stderr)
        return 3
    print(f"simulated {sent:,} records for {len(symbols)} symbols over {args.seconds:g} s of event time")
    return 0
