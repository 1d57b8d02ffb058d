"""A Torghut JSON quote stream through the exactly-once runtime, read back by the stock Confluent
AvroDeserializer against the registry; the Kafka run equals the offline driver's run."""

from __future__ import annotations

from dataclasses import replace

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.serde import REGISTRY_TIMEOUT_S, decode_json
from streams.settings import Settings
from tests.support.feeds import quote_feed
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.processors import QuoteSummaryProcessor
from torghut_domain.runtime import TorghutRuntime

pytestmark = pytest.mark.integration


def test_quotes_flow_through_runtime_and_decode_with_confluent_deserializer(fast_settings: Settings,
                                                                            unique: str) -> None:
    quotes, out = f"quotes-{unique}", f"summary-{unique}"
    create_topics(fast_settings, [(quotes, 3, False), (out, 3, False)])
    feed = quote_feed(600, ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA"])
    produce_all(fast_settings, quotes, feed)

    processor = QuoteSummaryProcessor(quotes, out)
    runtime = TorghutRuntime(processor, fast_settings, f"app-{unique}")
    stats = runtime.run(max_records=len(feed), idle_timeout_s=60)
    assert stats.records_in == len(feed) and stats.dlq == 0

    client = SchemaRegistryClient({"url": fast_settings.schema_registry_url, "timeout": REGISTRY_TIMEOUT_S})
    deserializer = AvroDeserializer(client)
    messages = read_all(fast_settings, out)
    assert len(messages) == len(feed)
    decoded = [deserializer(m.value(), SerializationContext(out, MessageField.VALUE)) for m in messages]

    # The same processor under the offline driver, over the same records in the same partition order.
    inputs = read_all(fast_settings, quotes)
    offline = run_offline(QuoteSummaryProcessor(quotes, out), [
        SourceRecord(quotes, m.partition(), m.offset(), m.timestamp()[1], m.key().decode(), decode_json(m.value()))
        for m in inputs])
    values = [e.value for e in offline.outputs]
    assert all(isinstance(v, dict) for v in values)
    expected = {(v["symbol"], v["seq"]): v for v in values if isinstance(v, dict)}
    got = {(d["symbol"], d["seq"]): d for d in decoded}
    assert got == expected
    # Stateful values: the last record of each symbol has counted all of that symbol's quotes.
    per_symbol = {s: sum(1 for k, _ in feed if k == s) for s in {k for k, _ in feed}}
    assert {s: max(seq for (sym, seq) in got if sym == s) for s in per_symbol} == per_symbol


def test_without_a_registry_outputs_are_bare_avro(fast_settings: Settings, unique: str) -> None:
    """Torghut's own fallback: no registry URL, plain Avro bodies readable with the schema file."""
    import io

    import fastavro

    from streams.schemas import parsed_schema
    from tests.support.processors import SUMMARY_SCHEMA

    settings = replace(fast_settings, schema_registry_url="")
    quotes, out = f"quotes-{unique}", f"summary-{unique}"
    create_topics(settings, [(quotes, 1, False), (out, 1, False)])
    feed = quote_feed(50, ["AAPL", "MSFT"])
    produce_all(settings, quotes, feed)
    stats = TorghutRuntime(QuoteSummaryProcessor(quotes, out), settings, f"bare-{unique}").run(
        max_records=len(feed), idle_timeout_s=60)
    assert stats.records_in == len(feed)
    values = [m.value() for m in read_all(settings, out)]
    assert len(values) == len(feed) and all(v[0] != 0 for v in values)  # no Confluent magic byte
    decoded = [fastavro.schemaless_reader(io.BytesIO(v), parsed_schema(SUMMARY_SCHEMA), None) for v in values]
    records = [d for d in decoded if isinstance(d, dict)]
    assert [d["seq"] for d in records if d["symbol"] == "AAPL"] == list(range(1, 26))


def test_inputs_that_are_not_co_partitioned_are_refused(fast_settings: Settings, unique: str) -> None:
    """Keyed state is only right if every input routes a key to the same partition number."""
    from streams.runtime import TopologyError

    quotes, books, out = f"quotes-{unique}", f"books-{unique}", f"summary-{unique}"
    create_topics(fast_settings, [(quotes, 3, False), (books, 2, False), (out, 3, False)])
    runtime = TorghutRuntime(QuoteSummaryProcessor(quotes, out, book_topic=books), fast_settings, f"cp-{unique}")
    with pytest.raises(TopologyError, match="not co-partitioned"):
        runtime.run(max_records=1, idle_timeout_s=5)


def test_partition_key_places_a_record_where_its_partition_key_would_go(fast_settings: Settings,
                                                                          unique: str) -> None:
    """A record keyed by one id but placed by another key lands on the partition librdkafka's own
    murmur2 partitioner gives that key (so it sits beside that key's records downstream)."""
    from collections.abc import Iterable, Mapping

    from streams.processor import FORMAT_RAW, Emit, KeyValueState

    src, out = f"src-{unique}", f"placed-{unique}"
    create_topics(fast_settings, [(src, 6, False), (out, 6, False)])
    symbols = [f"SYM{i}" for i in range(30)]
    produce_all(fast_settings, src, [(s, s.encode()) for s in symbols])
    librdkafka_partition = {m.key().decode(): m.partition() for m in read_all(fast_settings, src)}

    class Placer:
        name = "placer"
        input_formats: Mapping[str, str] = {src: FORMAT_RAW}
        output_schemas: Mapping[str, str | None] = {out: None}

        def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
            symbol = record.value.decode()
            return (Emit(out, f"order-of-{symbol}", record.value, partition_key=symbol),)

    stats = TorghutRuntime(Placer(), fast_settings, f"placer-{unique}").run(max_records=len(symbols),
                                                                                 idle_timeout_s=60)
    assert stats.records_in == len(symbols)
    placed = {m.value().decode(): m.partition() for m in read_all(fast_settings, out)}
    assert placed == librdkafka_partition
    assert len(set(placed.values())) > 1  # the keys really spread over partitions
