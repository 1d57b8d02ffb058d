"""`microexec demo`: the whole product, live, on a simulated market, with a report at the end.

What runs, each as its own process (``microexec.demo_procs``): every consumer this build has
(state, advisor, simulation, tca, alerts: taken from ``consumers.cli.CONSUMERS``; the ones not yet
built are named on screen), each with its own metrics port; the simulated live market
(``microexec feed simulate``, paced at ``--speed``); and the paper split-book executor
(``microexec paper run``). The terminal shows advice per symbol, divergence records and alerts as
they happen; at the end the demo checks that every consumer's /metrics answers and that the
Torghut client catches up, then writes its report into ``--out``.

Failure is loud: a consumer that exits, a feed or executor that fails, a metrics port that does
not answer, a client that cannot catch up, or the wall-clock ``--timeout`` all exit non-zero, and
every child is stopped (SIGTERM, then SIGKILL) on every exit path, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from rich.console import Console
from rich.live import Live
from rich.table import Table

from consumers.cli import CONSUMERS
from microexec.demo_procs import CONSUMER, FEED, PAPER, Supervisor, free_port, metrics_answer
from microexec.demo_report import write_report
from microexec.demo_view import LiveView
from producers.simulated_market.regimes import DEFAULT_SEGMENT_S
from producers.simulated_market.symbols import symbol_names
from streams.admin import create_catalog_topics
from streams.reading import read_to_end
from streams.serde import AvroDecoder, Registry, RegistryUnavailable
from streams.settings import Settings, SettingsError, load_settings
from streams.timeutil import format_ts_ns
from torghut_client import AdviceBook, AdviceSubscriber
from torghut_domain.topics import CATALOG, topic

PIPELINE = ("state", "advisor", "simulation", "tca", "alerts")
REQUIRED = ("state", "advisor")  # the demo is meaningless without them
REPORT_INPUTS = ("state", "advisor", "tca")  # must have caught up before the report is read


class DemoFailure(RuntimeError):
    """Something in the run failed; the message says what."""


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="the pipeline live on a simulated market, paper split book, report")
    demo.add_argument("--minutes", type=float, default=3.0, help="wall-clock minutes of simulated market")
    demo.add_argument("--speed", type=float, default=10.0, help="event time per wall time (10: ten times faster)")
    demo.add_argument("--symbols", type=int, default=3)
    demo.add_argument("--orders", type=int, help="parent orders (default: one per 20 s of event time)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--segment", type=float, default=DEFAULT_SEGMENT_S, help="regime segment length (event s)")
    demo.add_argument("--out", default="demo-out", help="report directory")
    demo.add_argument("--timeout", type=float, help="wall seconds before the demo fails (default: minutes + 5 min)")
    demo.add_argument("--settle", type=float, default=90.0, help="wall seconds for consumers to catch up at the end")
    demo.set_defaults(func=_demo)


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def group_lag(settings: Settings, group: str) -> int | None:
    """Records behind on every catalog topic the group has committed on; None if it committed nothing."""
    consumer = Consumer({**settings.kafka_common(), "group.id": group})
    try:
        total, seen = 0, False
        for spec in CATALOG:
            meta = consumer.list_topics(spec.name, timeout=10).topics.get(spec.name)
            if meta is None or meta.error is not None:
                continue
            for tp in consumer.committed([TopicPartition(spec.name, p) for p in meta.partitions], timeout=15):
                if tp.offset < 0:
                    continue
                seen = True
                total += max(0, consumer.get_watermark_offsets(tp, timeout=10)[1] - tp.offset)
        return total if seen else None
    finally:
        consumer.close()


def settle_verdict(lags: Mapping[str, int | None], first: Mapping[str, int | None]
                   ) -> tuple[list[str], dict[str, int]]:
    """(failed, slow) after settling. The report's inputs (``REPORT_INPUTS``) must be at lag 0 (state
    and advisor must also have committed); another consumer fails only if it made no progress at
    all while the demo waited (stuck), and is otherwise reported as slow."""
    failed, slow = [], {}
    for name, lag in lags.items():
        if lag is None:
            if name in REQUIRED:
                failed.append(name)
        elif lag > 0:
            start = first.get(name)
            if name in REPORT_INPUTS or start is None or lag >= start:
                failed.append(name)
            else:
                slow[name] = lag
    return failed, slow


def _validate(args: argparse.Namespace) -> tuple[float, int]:
    if args.minutes <= 0 or args.speed <= 0 or args.symbols < 1 or args.seed < 0 or args.settle <= 0:
        raise ValueError("need --minutes > 0, --speed > 0, --symbols >= 1, --seed >= 0, --settle > 0")
    seconds = args.minutes * 60.0 * args.speed
    if seconds < 150:
        raise ValueError(f"{seconds:g} s of event time is too short for the parents' horizons (need >= 150): "
                         "raise --minutes or --speed")
    orders = args.orders if args.orders is not None else max(4, int(seconds // 20))
    if orders < 1:
        raise ValueError("--orders must be >= 1")
    return seconds, orders


def _demo(args: argparse.Namespace) -> int:
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        seconds, n_orders = _validate(args)
    except ValueError as exc:
        console.print(f"[red]microexec demo: {exc}")
        return 2
    # Every run gets its own topics and groups unless told otherwise (MICROEXEC_TOPIC_*), so a demo
    # can be repeated on the same stack and never mixes with a real deployment's data.
    run_id = time.strftime("%Y%m%d%H%M%S")
    for spec in CATALOG:
        os.environ.setdefault(f"MICROEXEC_TOPIC_{spec.key.upper()}", f"demo-{run_id}.{spec.key}")
    try:
        settings = load_settings()
        create_catalog_topics(settings, CATALOG)
    except (SettingsError, KafkaException) as exc:
        console.print(f"[red]microexec demo: {exc}")
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    present = [n for n in PIPELINE if n in CONSUMERS] + sorted(set(CONSUMERS) - set(PIPELINE))
    missing = [n for n in PIPELINE if n not in CONSUMERS]
    if missing:
        console.print(f"[yellow]consumers not in this build (started when merged): {', '.join(missing)}")
    if any(name not in CONSUMERS for name in REQUIRED):
        console.print(f"[red]microexec demo: this build lacks the {' and '.join(REQUIRED)} consumers")
        return 2
    sup = Supervisor(out / "logs", dict(os.environ))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    deadline = time.monotonic() + (args.timeout or args.minutes * 60 + 300)
    try:
        _run(args, settings, sup, out, present, missing, seconds, n_orders, deadline, console, run_id)
        return 0
    except DemoFailure as exc:
        console.print(f"\n[red]microexec demo failed: {exc}")
        return 1
    except (RegistryUnavailable, KafkaException, TimeoutError, RuntimeError) as exc:
        console.print(f"\n[red]microexec demo failed: {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]microexec demo interrupted; stopping every process")
        return 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short and leave children running.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.terminate_all()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _check(sup: Supervisor, deadline: float, what: str) -> None:
    failures = sup.failures()
    if failures:
        raise DemoFailure("\n".join(failures))
    if time.monotonic() > deadline:
        raise DemoFailure(f"timed out while {what}")


def _run(args: argparse.Namespace, settings: Settings, sup: Supervisor, out: Path, present: list[str],
         missing: list[str], seconds: float, n_orders: int, deadline: float, console: Console,
         run_id: str) -> None:
    groups = {name: f"demo-{run_id}-{name}" for name in present}
    for name in present:
        sup.start(name, CONSUMER, ["run", name, "--app-id", groups[name], "--log-level", "WARNING"],
                  {"MICROEXEC_INSTANCE_ID": groups[name]}, metrics_port=free_port())
    sup.write_manifest(out / "children.json")
    with console.status("consumers starting (waiting for every /metrics) ..."):
        waiting = [c for c in sup.children if c.metrics_port is not None]
        while waiting:
            _check(sup, deadline, f"waiting for /metrics of {', '.join(c.name for c in waiting)}")
            waiting = [c for c in waiting if not metrics_answer(c.metrics_port or 0)]
            time.sleep(0.5)
    start_ns = time.time_ns() // 1_000_000_000 * 1_000_000_000
    market = ["--symbols", str(args.symbols), "--seconds", f"{seconds:g}", "--seed", str(args.seed),
              "--start", format_ts_ns(start_ns), "--segment", f"{args.segment:g}"]
    results_path = out / "paper_results.jsonl"
    results_path.unlink(missing_ok=True)
    sup.start("paper", PAPER, ["paper", "run", *market, "--orders", str(n_orders), "--results-out",
                               str(results_path), "--timeout", f"{max(1.0, deadline - time.monotonic()):.0f}"])
    sup.start("feed", FEED, ["feed", "simulate", *market, "--speed", f"{args.speed:g}", "--l2-interval", "1",
                             "--schedule-out", str(out / "regime_schedule.json")])
    sup.write_manifest(out / "children.json")
    symbols = symbol_names(args.symbols)
    view = LiveView(settings, args.seed, args.segment, start_ns, symbols)
    try:
        with Live(view.render(sup, "market running", missing), console=console, refresh_per_second=2) as live:
            phase = f"market running ({seconds:g} s of event time at {args.speed:g}x)"
            while True:
                _check(sup, deadline, phase)
                view.poll()
                live.update(view.render(sup, phase, missing))
                feed, paper = sup.get("feed"), sup.get("paper")
                if feed is not None and paper is not None and feed.exited() == 0 and paper.exited() == 0:
                    break
                time.sleep(0.5)
            settle_end = min(deadline, time.monotonic() + args.settle)
            lags: dict[str, int | None] = {}
            first: dict[str, int | None] = {}
            while True:
                _check(sup, deadline, "consumers settling")
                lags = {name: group_lag(settings, g) for name, g in groups.items()}
                first = first or dict(lags)
                view.poll()
                live.update(view.render(sup, f"consumers catching up: lag {lags}", missing))
                if all(v == 0 for v in lags.values()) or time.monotonic() > settle_end:
                    break
                time.sleep(1.0)
    finally:
        view.close()
    behind, slow = settle_verdict(lags, first)
    if behind:
        raise DemoFailure(f"{', '.join(behind)} did not catch up within {args.settle:g} s "
                          f"(lag at start of settling {first}, at the end {lags})")
    if slow:
        console.print(f"[yellow]still catching up (progressing) at report time: {slow}; the report covers "
                      "what they had published")
    dead = [c.name for c in sup.children if c.metrics_port and not metrics_answer(c.metrics_port, 5.0)]
    if dead:
        raise DemoFailure(f"/metrics does not answer for {', '.join(dead)}")
    client = AdviceSubscriber(AdviceBook(), settings.kafka_common(), settings.schema_registry_url)
    try:
        if not client.catch_up(30):
            raise DemoFailure("the Torghut client did not catch up with the state and advice topics in 30 s")
        held = client.book.symbols()
    finally:
        client.close()
    if set(held) != set(symbols):
        raise DemoFailure(f"the Torghut client holds state/advice for {held}, expected {symbols}")
    _report(settings, out, args, lags, missing, start_ns, seconds, console)


def _report(settings: Settings, out: Path, args: argparse.Namespace, lags: dict[str, int | None],
            missing: list[str], start_ns: int, seconds: float, console: Console) -> None:
    registry = Registry(settings.schema_registry_url) if settings.schema_registry_url else None
    decoder = AvroDecoder("tca_divergence_v1", registry)
    divergence = [decoder.decode(m.value() or b"") for m in read_to_end(settings.kafka_common(),
                                                                        topic("tca_divergence"))]
    updates = [json.loads(m.value() or b"null") for m in read_to_end(settings.kafka_common(), topic("trade_updates"),
                                                                      committed=False)]
    results_path = out / "paper_results.jsonl"
    if not results_path.exists():
        raise DemoFailure(f"the paper executor wrote no results ({results_path})")
    results = [json.loads(line) for line in results_path.read_text().splitlines() if line]
    arms = {u.get("accountLabel") for u in updates}
    if not {"baseline", "advisor"} <= arms:
        raise DemoFailure(f"trade-updates carry accountLabel {sorted(map(str, arms))}, expected both arms")
    meta = {"seed": args.seed, "symbols": args.symbols, "start_ns": start_ns, "seconds": seconds,
            "speed": args.speed, "consumer_lag_at_report": lags, "consumers_missing": missing,
            "topics": {spec.key: spec.name for spec in CATALOG}}
    paths = write_report(out, divergence, updates, results, meta)
    table = Table(title="Paper split book (executor's simulation; TCA below when the tca consumer runs)")
    for col in ("arm", "orders", "fill rate", "mean shortfall bps", "p95 shortfall bps", "mean full IS bps",
                "TCA records"):
        table.add_column(col)
    from microexec.demo_report import divergence_summary, executor_summary

    ex, tca = executor_summary(results), divergence_summary(divergence)
    for arm in ("baseline", "advisor"):
        row = ex[arm]["all"]
        sf = row["shortfall_bps"]
        mean = "-" if sf["mean"] is None else f"{sf['mean']:.2f}"
        p95 = "-" if sf["p95"] is None else f"{sf['p95']:.2f}"
        full = row["full_shortfall_bps"]["mean"]
        table.add_row(arm, str(row["orders"]), f"{row['fill_rate']:.3f}", mean, p95,
                      "-" if full is None else f"{full:.2f}",
                      str(tca.get(arm, {}).get("records", 0)))
    console.print(table)
    console.print(f"{len(updates)} trade-updates, {len(divergence)} divergence records; report: "
                  + ", ".join(str(p) for p in paths))
