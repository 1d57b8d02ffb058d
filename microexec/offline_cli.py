"""`microexec offline`: the state and advisor processors over recorded files, without a broker.

Why: quants compare the advisor with the baseline on history without a cluster; the offline
driver applies the runtime's semantics (per-partition state, event-time merge of the inputs,
refusals to a dead-letter list), so its output is what the consumers would publish.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from rich.progress import Progress

from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from producers.binance import BinanceFormatError, binance_records
from producers.lobster import LobsterFormatError, lobster_records
from producers.records import FeedRecord
from producers.torghut_dump import TorghutDumpError, torghut_dump_records
from streams.offline import OfflineResult, run_offline
from streams.processor import SourceRecord
from torghut_domain.topics import topic


def register(subparsers: argparse._SubParsersAction) -> None:
    off = subparsers.add_parser("offline", help="run state + advisor over recorded files, no broker")
    source = off.add_mutually_exclusive_group(required=True)
    source.add_argument("--lobster", type=Path, help="LOBSTER *_message_*.csv (order book file beside it)")
    source.add_argument("--binance", type=Path, nargs="+", help="hftbacktest Binance .gz recordings, in order")
    source.add_argument("--torghut", type=Path, nargs="+",
                        help="Torghut JSON dumps (quote, trade and trade-update envelopes; JSON lines or arrays)")
    off.add_argument("--limit", type=int, help="records to read")
    off.add_argument("--out", type=Path, required=True, help="JSON lines of state and advice records")
    off.set_defaults(func=_offline)


def source_records(feed: Iterator[FeedRecord]) -> Iterator[SourceRecord]:
    """Feed records as the runtime would hand them over: one partition per topic, offsets in order."""
    offsets: dict[str, int] = {}
    for record in feed:
        name = topic(record.kind)
        offset = offsets.get(name, 0)
        offsets[name] = offset + 1
        yield SourceRecord(name, 0, offset, record.ts_ns // 1_000_000, record.symbol, record.value)


def state_run(feed: Iterable[FeedRecord]) -> OfflineResult:
    """The state processor over a recorded feed, offline: the state records the advisor and the replay
    read (one definition for the replay's timeline, tuning and touch check)."""
    return run_offline(StateProcessor(), list(source_records(iter(feed))))


def _offline(args: argparse.Namespace) -> int:
    try:
        feed: Iterator[FeedRecord]
        if args.lobster:
            feed = lobster_records(args.lobster, limit=args.limit)
        elif args.binance:
            feed = binance_records(list(args.binance), limit=args.limit)
        else:  # a dump of Torghut's own topics: as `microexec feed replay --torghut` reads it
            feed = iter(torghut_dump_records(list(args.torghut))[:args.limit])
        with Progress(transient=True) as progress:
            task = progress.add_task("reading", total=args.limit)
            inputs = []
            for record in source_records(feed):
                inputs.append(record)
                if len(inputs) % 5000 == 0:
                    progress.update(task, completed=len(inputs))
    except (OSError, LobsterFormatError, BinanceFormatError, TorghutDumpError) as exc:
        print(f"microexec offline: {exc}", file=sys.stderr)
        return 2
    states = run_offline(StateProcessor(), inputs)
    state_records = [SourceRecord(topic("state"), 0, i, e.timestamp_ms or 0, e.key, e.value)
                     for i, e in enumerate(states.outputs)]
    advice = run_offline(AdvisorProcessor(), state_records)
    with args.out.open("w") as out:
        for kind, emits in (("state", states.outputs), ("advice", advice.outputs)):
            for emit in emits:
                out.write(json.dumps({"kind": kind, "key": emit.key, "value": emit.value}, sort_keys=True) + "\n")
    dead = len(states.dlq) + len(advice.dlq)
    print(f"{len(inputs):,} records -> {len(states.outputs):,} state, {len(advice.outputs):,} advice "
          f"({dead} refused) -> {args.out}")
    return 0
