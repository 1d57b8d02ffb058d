"""CPU time per record of the state consumer's batch path, and of the passthrough's, without Kafka.

    python benchmarks/state_cpu.py [--records 100000] [--symbols 50] [--trade-every N] [--best-of 5]

Why: the wall-clock benchmarks (state_throughput.py, runtime_passthrough.py) share two cores with
the broker and whatever else runs, so their single runs move by 2x. This one runs the runtime's
own per-batch code (``_merge`` + ``_process_batch``: the event-time merge, runs, decode, fold,
state records, Avro encoding, produce calls) single-threaded over the same feed as
state_throughput.py, cut into consume()-sized batches of fetch-sized partition stretches, with a
producer whose ``produce`` does nothing, and reports CPU microseconds per record (best of N; the
process' CPU time, so other jobs on the machine do not count). The passthrough goes through the
same harness, so their ratio is the runtime's own share of the wall-clock ratio (the client
library's fetch and produce costs, which both sides pay, are not in it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from _common import report
from confluent_kafka import Message
from runtime_passthrough import Passthrough

from streams.merging import MergeFeed, merger_for
from streams.output import OutputWriter, output_encoders
from streams.partitioning import partition_for
from streams.processing import BatchProcessing
from streams.run_stats import RunStats
from streams.serde import ValueDecoder
from streams.settings import load_settings
from streams.state import TransactionalState
from streams.timeutil import parse_ts_ns
from tests.support.synthetic_market import synthetic_market

PARTITIONS = 6
FETCH_STRETCH = 4_000  # records of one partition per fetch (~1 MB at ~250 bytes a quote)


class _NullProducer:
    """A producer that takes records and sends nothing (the client's cost is not what is measured)."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        return None

    def list_topics(self, topic: str, timeout: float) -> Any:
        partitions = dict.fromkeys(range(PARTITIONS))

        class _Topic:
            error = None

        meta = _Topic()
        meta.partitions = partitions  # type: ignore[attr-defined]

        class _Meta:
            topics = {topic: meta}

        return _Meta()


class _Live:
    health = None


def harness(processor: Any) -> Callable[[list[list[Message]]], int]:
    """``processor`` under the runtime's batch code with fresh state; returns a function that feeds
    it a list of batches and returns the records emitted."""
    settings = load_settings()
    rt: Any = object.__new__(BatchProcessing)
    rt.processor, rt.settings, rt.app = processor, settings, "cpu"
    rt.stats = RunStats()
    rt._stop = threading.Event()
    rt._decoders = {name: ValueDecoder(fmt, None, None) for name, fmt in processor.input_formats.items()}
    rt._run_topics = frozenset(getattr(processor, "run_topics", ()))
    rt._run_columns = getattr(processor, "process_run_columns", None) if rt._run_topics else None
    rt._states = {p: TransactionalState() for p in range(PARTITIONS)}
    rt._next_offsets, rt._in_txn, rt._uncommitted = {}, True, 0
    rt._output = OutputWriter(_NullProducer(), "cpu", output_encoders(processor.output_schemas, None),  # type: ignore[arg-type]
                              "dlq", settings, _Live(), rt.stats)  # type: ignore[arg-type]
    merger = merger_for(processor, settings)
    rt._merger = merger
    rt.consumer = None  # MergeFeed pauses nothing without one
    rt._merge_feed = None if merger is None else MergeFeed("cpu", merger)
    if merger is not None:
        for name in processor.input_formats:
            for p in range(PARTITIONS):
                merger.assign(name, p)
                merger.mark_end(name, p)  # as mark_ended_at_start: the empty inputs are at their end
    warm = getattr(processor, "warm_up", None)
    if warm is not None:
        warm()

    def feed(batches: list[list[Message]]) -> int:
        now = 0.0
        for batch in batches:
            now += 0.001
            messages = batch if merger is None else rt._merge(batch, now, caught_up=False)
            if messages:
                rt._process_batch(messages)
        if merger is not None:  # the tail the bound holds: released as the idle flush would
            rest = rt._merge([], now + 10.0, caught_up=True)
            rest += rt._merge([], now + 20.0, caught_up=True)
            if rest:
                rt._process_batch(rest)
        for state in rt._states.values():
            state.commit()
        return rt.stats.records_out

    return feed


def batches_of(records: int, symbols: int, trade_every: int, batch_size: int) -> list[list[Message]]:
    """The feed of state_throughput.py as consume() would hand it out: partition stretches of a
    fetch's size, cut into batches of ``batch_size``."""
    from torghut_domain.topics import topic

    names = [f"S{i:03d}" for i in range(symbols)]
    per_partition: dict[int, list[Message]] = {p: [] for p in range(PARTITIONS)}
    offsets: dict[tuple[str, int], int] = {}
    for r in synthetic_market(names, records, seed=9, trade_every=trade_every or 10**9, step_ms=1.0):
        p = partition_for(r.value["symbol"], PARTITIONS)
        offset = offsets.get((r.topic, p), 0)
        offsets[(r.topic, p)] = offset + 1
        per_partition[p].append(Message(topic=r.topic, partition=p, offset=offset, key=r.value["symbol"].encode(),
                                        value=json.dumps(r.value).encode(),
                                        timestamp=(1, parse_ts_ns(r.value["eventTs"]) // 1_000_000)))
    assert topic("quotes")
    stream: list[Message] = []
    cursor = dict.fromkeys(per_partition, 0)
    while any(cursor[p] < len(per_partition[p]) for p in per_partition):
        for p, msgs in per_partition.items():
            stream += msgs[cursor[p]:cursor[p] + FETCH_STRETCH]
            cursor[p] += FETCH_STRETCH
    return [stream[i:i + batch_size] for i in range(0, len(stream), batch_size)]


def cpu_per_record(make: Callable[[], Any], batches: list[list[Message]], n: int, best_of: int) -> tuple[float, int]:
    best, emitted = float("inf"), 0
    for _ in range(best_of):
        feed = harness(make())
        gc.collect()
        started = time.process_time()
        emitted = feed(batches)
        best = min(best, time.process_time() - started)
    return best / n * 1e6, emitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--trade-every", type=int, default=0)
    parser.add_argument("--best-of", type=int, default=5)
    parser.add_argument("--only", choices=("state", "passthrough"), default=None)
    args = parser.parse_args()
    os.environ.setdefault("MICROEXEC_GC_GEN0_THRESHOLD", "50000")
    gc.set_threshold(int(os.environ["MICROEXEC_GC_GEN0_THRESHOLD"]) or 700)
    from consumers.state.processor import StateProcessor
    from torghut_domain.topics import topic

    batches = batches_of(args.records, args.symbols, args.trade_every, load_settings().batch_size)
    inputs = (topic("quotes"), topic("trades")) if args.trade_every else (topic("quotes"),)
    n = sum(map(len, batches))
    ours = ref = float("nan")
    if args.only != "passthrough":
        ours, emitted = cpu_per_record(StateProcessor, batches, n, args.best_of)
        print(f"state consumer: {ours:.3f} us CPU per record, {emitted:,} state records")
    if args.only != "state":
        ref, _ = cpu_per_record(lambda: Passthrough(inputs, "sink"), batches, n, args.best_of)
        print(f"passthrough: {ref:.3f} us CPU per record")
    report("state_cpu_per_record", ours, ref, "us CPU per record (reference: passthrough)")


if __name__ == "__main__":
    main()
