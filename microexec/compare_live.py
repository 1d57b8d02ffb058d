"""``microexec compare-live CONSUMER``: what a consumer published live against a replay of the same
inputs (the offline driver over the input topics' records), with the differences listed.

Why: the event-time merge makes live output equal a replay as long as producers keep within the
lateness bound (docs/ordering.md); when they do not, the difference is measured here rather than
assumed away. Records are compared per key in publication order (a sequence alignment, so one
extra or missing record counts once, not as a shift of everything after it), as decoded values
with the named fields left out (``latency_ms`` of advice is wall-clock by design).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.offline import run_offline
from streams.processor import Processor, SourceRecord
from streams.reading import read_to_end
from streams.serde import AvroDecoder, Registry, ValueDecoder, decode_key
from streams.settings import Settings, SettingsError, load_settings
from torghut_domain.topics import CATALOG

DEFAULT_IGNORED = {"advisor": ("latency_ms",)}


@dataclass
class Comparison:
    """Live against replay: ``identical`` records matched in order, per key, and the differences."""

    live: int = 0
    replay: int = 0
    identical: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        """Identical records over the larger of the two counts (1.0 when both are empty)."""
        total = max(self.live, self.replay)
        return 1.0 if total == 0 else self.identical / total

    def summary(self) -> str:
        return (f"{self.identical:,} of {self.live:,} live records identical to the replay's {self.replay:,} "
                f"({100 * self.share:.3f}%)")


def _canonical(value: Mapping[str, Any], ignored: Sequence[str]) -> str:
    return json.dumps({k: v for k, v in value.items() if k not in ignored}, sort_keys=True, default=str)


def compare(live: Iterable[tuple[str, Mapping[str, Any]]], replay: Iterable[tuple[str, Mapping[str, Any]]],
            ignored: Sequence[str] = (), show: int = 20) -> Comparison:
    """Compare (key, value) sequences: per key, the longest in-order matching of equal values."""
    result = Comparison()
    sides: list[dict[str, list[str]]] = [defaultdict(list), defaultdict(list)]
    for side, records in zip(sides, (live, replay), strict=True):
        for key, value in records:
            side[key].append(_canonical(value, ignored))
    result.live = sum(map(len, sides[0].values()))
    result.replay = sum(map(len, sides[1].values()))
    for key in sorted(set(sides[0]) | set(sides[1])):
        a, b = sides[0].get(key, []), sides[1].get(key, [])
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                result.identical += i2 - i1
            elif len(result.differences) < show:
                result.differences.append(f"{key}: live[{i1}:{i2}] {a[i1:i2][:1]} vs replay[{j1}:{j2}] {b[j1:j2][:1]}")
    return result


def _stem(name: str, processor: Processor) -> str | None:
    explicit: Mapping[str, str] = getattr(processor, "input_schemas", {})
    if name in explicit:
        return explicit[name]
    return next((spec.schema for spec in CATALOG if spec.name == name), None)


def input_records(settings: Settings, processor: Processor, registry: Registry | None) -> list[SourceRecord]:
    """Every record of the processor's input topics, decoded as the runtime decodes them."""
    records = []
    for name, fmt in processor.input_formats.items():
        decoder = ValueDecoder(fmt, _stem(name, processor), registry)
        for m in read_to_end(settings.kafka_common(), name):
            raw_key, partition, offset = m.key(), m.partition(), m.offset()
            assert partition is not None and offset is not None  # a consumed record has both
            records.append(SourceRecord(name, partition, offset, m.timestamp()[1],
                                        None if raw_key is None else decode_key(raw_key), decoder.decode(m.value())))
    return records


def compare_live(settings: Settings, processor: Processor, ignored: Sequence[str] = (),
                 show: int = 20) -> Comparison:
    """The processor's (single) output topic as published, against the offline driver's replay."""
    registry = Registry(settings.schema_registry_url) if settings.schema_registry_url else None
    (out_topic, stem), = processor.output_schemas.items()
    if stem is None:
        raise ValueError(f"{out_topic} is a raw topic: nothing to decode")
    decoder = AvroDecoder(stem, registry)
    live: list[tuple[str, Mapping[str, Any]]] = []
    for m in read_to_end(settings.kafka_common(), out_topic):
        value = m.value()
        if value is not None:  # a tombstone is not a published record to compare
            live.append((decode_key(m.key() or b"") or "", decoder.decode(value)))
    offline = run_offline(processor, input_records(settings, processor, registry))
    replay = [(e.key, e.value) for e in offline.outputs if e.topic == out_topic and isinstance(e.value, Mapping)]
    return compare(live, replay, ignored, show)


def register(subparsers: argparse._SubParsersAction) -> None:
    cmd = subparsers.add_parser("compare-live", help="compare a consumer's live output topic with a replay of "
                                "its input topics (offline driver) and report the differences")
    cmd.add_argument("consumer", choices=("state", "advisor", "tca", "alerts"))
    cmd.add_argument("--ignore-field", action="append", default=None,
                     help="value field left out of the comparison (default: latency_ms for advisor)")
    cmd.add_argument("--show", type=int, default=20, help="differences to list")
    cmd.add_argument("--min-share", type=float, default=1.0,
                     help="exit 1 if the identical share is below this (default 1.0: any difference)")
    cmd.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from consumers.cli import CONSUMERS

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"microexec compare-live: {exc}", file=sys.stderr)
        return 2
    processor = CONSUMERS[args.consumer][1]()
    ignored = args.ignore_field if args.ignore_field is not None else DEFAULT_IGNORED.get(args.consumer, ())
    result = compare_live(settings, processor, ignored, args.show)
    print(result.summary())
    for line in result.differences:
        print(f"  {line}")
    return 0 if result.share >= args.min_share else 1
