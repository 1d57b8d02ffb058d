"""Bad input of many kinds lands in the DLQ with reason and source coordinates; nothing is lost."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import replace

import fastavro
import pytest

from streams.dlq import headers_dict
from streams.schemas import parsed_schema
from streams.serde import Registry
from streams.settings import Settings
from tests.support.feeds import BASE_NS, quote_envelope, quote_feed
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.processors import QuoteSummaryProcessor
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration


def _avro_book(registry: Registry, subject: str, symbol: str) -> bytes:
    schema_id = registry.register(subject, "l2_book_v1")
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buf, parsed_schema("l2_book_v1"), {
        "symbol": symbol, "event_ts": "2026-11-18T10:00:00.000001Z", "venue": "test", "sequence": 1,
        "bids": [{"price": 99.0, "size": 5.0}], "asks": [{"price": 101.0, "size": 7.0}]})
    return buf.getvalue()


def _bad_quote(**payload_changes: object) -> bytes:
    env = quote_envelope("BAD", BASE_NS, 10.0, 10.1, 100, 100, 1)
    env["payload"].update(payload_changes)
    return json.dumps(env).encode()


def test_bad_input_goes_to_dlq_and_the_consumer_keeps_running(fast_settings: Settings, unique: str) -> None:
    settings = fast_settings
    quotes, books, out = f"quotes-{unique}", f"books-{unique}", f"summary-{unique}"
    create_topics(settings, [(quotes, 2, False), (books, 2, False), (out, 2, False), (topic("dlq"), 6, False)])
    registry = Registry(settings.schema_registry_url)
    good_book = _avro_book(registry, f"{books}-value", "BOOK")

    missing_bp = quote_envelope("BAD", BASE_NS, 10.0, 10.1, 100, 100, 1)
    del missing_bp["payload"]["bp"]
    bad_quotes: list[tuple[str, bytes | str, bytes]] = [
        ("invalid_json", "BAD", b'{"payload": {"bp": 1.0,'),
        ("wrong_envelope", "BAD", b"[1, 2, 3]"),
        ("missing_field", "BAD", json.dumps(missing_bp).encode()),
        ("non_finite_number", "BAD", _bad_quote(bp=float("nan"))),
        ("non_positive_value", "BAD", _bad_quote(bp=0.0)),
        ("non_positive_value", "BAD", _bad_quote(**{"as": -5})),
        ("crossed_quote", "BAD", _bad_quote(bp=10.2, ap=10.1)),
        ("bad_timestamp", "BAD", _bad_quote(t="yesterday")),
        ("invalid_utf8", "BAD", b'{"payload": "\xff\xfe"}'),
        ("invalid_key", b"\xff\xfeBAD", json.dumps(quote_envelope("BAD", BASE_NS, 10.0, 10.1, 1, 1, 1)).encode()),
        ("oversize_record", "BAD", b'{"pad": "' + b"x" * 70_000 + b'"}'),
    ]
    bad_books: list[tuple[str, bytes | str, bytes]] = [
        ("unknown_schema_id", "BOOK", struct.pack(">bI", 0, 987_654_321) + good_book[5:]),
        ("avro_decode_error", "BOOK", good_book[:-6]),
        ("not_confluent_avro", "BOOK", b"\x07garbage"),
    ]
    good = quote_feed(300, ["AAPL", "MSFT", "SPY"])
    # Interleave: good, bad, good... so the consumer must keep going after every bad record.
    mixed: list[tuple[bytes | str, bytes]] = list(good)
    for i, (_, key, value) in enumerate(bad_quotes):
        mixed.insert(10 + i * 20, (key, value))
    produce_all(settings, quotes, [(k if isinstance(k, bytes) else k.encode(), v) for k, v in mixed])
    produce_all(settings, books, [("BOOK", good_book)] + [(k, v) for _, k, v in bad_books] + [("BOOK", good_book)])
    total_in = len(mixed) + len(bad_books) + 2

    runtime = TorghutRuntime(QuoteSummaryProcessor(quotes, out, book_topic=books),
                                 _with_max_bytes(settings, 65_536), f"app-{unique}")
    stats = runtime.run(max_records=total_in, idle_timeout_s=60)

    outputs = read_all(settings, out)
    dlq = [m for m in read_all(settings, topic("dlq")) if headers_dict(m.headers()).get("dlq.app") == f"app-{unique}"]
    assert stats.records_in == total_in
    assert len(outputs) == len(good) + 2
    assert len(dlq) == len(bad_quotes) + len(bad_books)
    assert len(outputs) + len(dlq) == total_in

    expected = sorted(reason for reason, _, _ in bad_quotes + bad_books)
    got = sorted(headers_dict(m.headers())["dlq.reason"] for m in dlq)
    assert got == expected
    assert len({r for r, _, _ in bad_quotes + bad_books}) >= 10
    originals = {v for _, _, v in bad_quotes + bad_books}
    for msg in dlq:
        h = headers_dict(msg.headers())
        assert h["dlq.source.topic"] in (quotes, books)
        assert int(h["dlq.source.partition"]) >= 0 and int(h["dlq.source.offset"]) >= 0
        assert msg.value() in originals  # the original bytes, untouched


def _with_max_bytes(settings: Settings, limit: int) -> Settings:
    return replace(settings, max_record_bytes=limit)


def test_tail_decodes_avro_and_shows_dlq_headers(fast_settings: Settings, unique: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What ops see with `microexec tail`: Avro decoded through the registry, DLQ reasons in headers."""
    from streams.tail import print_tail, tail

    settings = fast_settings
    quotes, out, dlq = f"quotes-{unique}", f"summary-{unique}", f"dlq-{unique}"
    create_topics(settings, [(quotes, 1, False), (out, 1, False), (dlq, 1, False)])
    produce_all(settings, quotes, [*quote_feed(5, ["AAPL"]), ("AAPL", b"{not json")])
    monkeypatch.setenv("MICROEXEC_TOPIC_DLQ", dlq)
    TorghutRuntime(QuoteSummaryProcessor(quotes, out), settings, f"tail-{unique}").run(
        max_records=6, idle_timeout_s=60)
    buf = io.StringIO()
    assert print_tail(tail(settings, out, from_beginning=True, follow=False), buf) == 5
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [line["value"]["seq"] for line in lines] == [1, 2, 3, 4, 5] and lines[0]["key"] == "AAPL"
    last = list(tail(settings, out, from_beginning=False, follow=False, last=2))
    assert [r["value"]["seq"] for r in last] == [4, 5]  # -n reads back past the transaction markers
    dead = list(tail(settings, dlq, from_beginning=True, follow=False))
    assert len(dead) == 1 and dead[0]["headers"]["dlq.reason"] == "invalid_json"
    assert dead[0]["value"] == {"_base64": "e25vdCBqc29u"}
