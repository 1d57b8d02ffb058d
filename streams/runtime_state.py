"""The fields the runtime's parts share, declared once.

Why: the exactly-once runtime is one object (one producer, one consumer, one transaction at a
time), written as layers in separate modules, each on top of the one below:
``runtime_state`` (these fields) <- ``checkpointing`` (transactions: commit, abort, rewind) <-
``rebalancing`` (partition ownership and state restore) <- ``processing`` (the hot path: decode,
process, encode) <- ``runtime`` (client set-up and the poll loop). Declaring the fields here lets
every layer be type-checked on its own, and shows in one place what a change could touch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, Message, Producer

from streams.health import Health
from streams.isolation import AbortTracker, Isolation
from streams.liveness import Liveness
from streams.merging import MergeFeed
from streams.ordering import EventTimeMerger
from streams.output import OutputWriter
from streams.processor import Emit, Processor
from streams.run_stats import RunStats
from streams.serde import AvroDecoder, AvroEncoder, Registry, ValueDecoder
from streams.settings import Settings
from streams.state import TransactionalState


class RuntimeState:
    """Set by ``ExactlyOnceRuntime.__init__``; read and written by every layer."""

    processor: Processor
    settings: Settings
    app: str
    registry: Registry | None
    stats: RunStats
    health: Health
    producer: Producer
    consumer: Consumer
    _restore_consumer: Consumer
    _live: Liveness
    _output: OutputWriter
    _stop: threading.Event
    _changelog: str
    _changelog_encoder: AvroEncoder
    _changelog_decoder: AvroDecoder
    _decoders: dict[str, ValueDecoder]
    _merger: EventTimeMerger[Message] | None
    _merge_feed: MergeFeed | None
    _run_topics: frozenset[str]
    # ColumnRunProcessor.process_run_columns, when the processor has it (streams/processor.py).
    _run_columns: Callable[..., list[tuple[int, Emit]] | None] | None
    _punctuate: Callable[[int, int, TransactionalState], Iterable[Emit]] | None
    _punctuate_interval_s: float
    # Transaction bookkeeping (checkpointing.py): state per owned partition, offsets to commit.
    _states: dict[int, TransactionalState]
    _next_offsets: dict[tuple[str, int], int]
    _committed_positions: dict[tuple[str, int], int]
    _in_txn: bool
    _uncommitted: int
    _unprocessed: dict[tuple[str, int], int]  # first unprocessed offset of a stopped batch
    # A record whose outputs the broker refuses (streams/isolation.py): one record per transaction until found.
    _isolation: Isolation | None
    _abort_tracker: AbortTracker
