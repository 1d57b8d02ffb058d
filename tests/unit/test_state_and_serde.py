from __future__ import annotations

import pytest

from streams.dlq import dlq_headers, headers_dict
from streams.offline import run_offline
from streams.processor import FORMAT_JSON, Emit, InvalidRecord, KeyValueState, SourceRecord
from streams.serde import AvroDecoder, AvroEncoder, ValueDecoder, decode_key
from streams.state import TransactionalState, canonical_json


def test_pending_state_commits_or_aborts_as_a_unit() -> None:
    s = TransactionalState()
    s.put("a", {"n": 1})
    assert s.get("a") == {"n": 1} and s.snapshot() == {}
    s.commit()
    s.put("a", {"n": 2})
    s.delete("b")
    assert dict(s.dirty()) == {"a": {"n": 2}, "b": None}
    s.abort()
    assert s.get("a") == {"n": 1} and list(s.dirty()) == []


def test_record_rollback_undoes_only_the_failed_record() -> None:
    s = TransactionalState()
    s.begin_record()
    s.put("a", {"n": 1})
    s.begin_record()
    s.put("a", {"n": 99})
    s.put("c", {"n": 3})
    s.delete("a")
    s.rollback_record()
    assert s.get("a") == {"n": 1} and s.get("c") is None


def test_restore_applies_last_write_and_tombstones() -> None:
    s = TransactionalState()
    s.restore("a", {"n": 1})
    s.restore("a", {"n": 2})
    s.restore("b", {"n": 1})
    s.restore("b", None)
    assert s.snapshot() == {"a": {"n": 2}}


def test_canonical_json_is_order_independent_and_refuses_nan() -> None:
    assert canonical_json({"b": 1, "a": [1.5]}) == canonical_json({"a": [1.5], "b": 1}) == '{"a":[1.5],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_bare_avro_round_trip_and_decode_failures() -> None:
    encoder = AvroEncoder("changelog_state_v1", "t", None)
    record = {"app_id": "a", "state_key": "k", "state_json": "{}", "source_topic": None, "source_partition": 1,
              "source_offset": None}
    data = encoder.encode(record)
    assert AvroDecoder("changelog_state_v1", None).decode(data) == record
    with pytest.raises(InvalidRecord) as exc:
        AvroDecoder("changelog_state_v1", None).decode(data[:-3])
    assert exc.value.reason == "avro_decode_error"
    with pytest.raises(InvalidRecord) as exc:
        AvroDecoder("changelog_state_v1", None).decode(data + b"\x00\x00")
    assert exc.value.reason == "avro_decode_error"


def test_json_and_key_decoding_reasons() -> None:
    dec = ValueDecoder(FORMAT_JSON, None, None)
    assert dec.decode(b'{"a": 1}') == {"a": 1}
    for data, reason in ((b"{", "invalid_json"), (b"\xff", "invalid_utf8")):
        with pytest.raises(InvalidRecord) as exc:
            dec.decode(data)
        assert exc.value.reason == reason
    assert decode_key(b"AAPL") == "AAPL" and decode_key(None) is None
    with pytest.raises(InvalidRecord, match="invalid_key"):
        decode_key(b"\xff")


def test_dlq_headers_round_trip() -> None:
    h = headers_dict(dlq_headers("app", "crossed_quote", "bid>ask", "t", 2, 41, 1700))
    assert h == {"dlq.reason": "crossed_quote", "dlq.detail": "bid>ask", "dlq.app": "app", "dlq.source.topic": "t",
                 "dlq.source.partition": "2", "dlq.source.offset": "41", "dlq.source.timestamp": "1700"}


class _Counter:
    name = "counter"
    input_formats = {"in": "raw"}
    output_schemas = {"out": None}

    def process(self, record: SourceRecord, state: KeyValueState) -> list[Emit]:
        prev = (state.get("n") or {"n": 0})["n"]
        state.put("n", {"n": prev + 1})
        if record.value == b"bad":
            raise InvalidRecord("bad_value")
        return [Emit("out", "k", str(prev + 1).encode())]


def test_offline_driver_routes_invalid_records_and_keeps_state_clean() -> None:
    records = [SourceRecord("in", 0, i, 0, "k", v) for i, v in enumerate([b"a", b"bad", b"b"])]
    result = run_offline(_Counter(), records)
    assert [e.value for e in result.outputs] == [b"1", b"2"]  # the refused record did not count
    assert [(r.offset, reason) for r, reason in result.dlq] == [(1, "bad_value")]


def test_an_unreachable_registry_is_an_outage_not_a_bad_record() -> None:
    from streams.serde import Registry, RegistryUnavailable

    registry = Registry("http://127.0.0.1:9", attempts=2)  # discard port: nothing answers
    with pytest.raises(RegistryUnavailable, match="did not answer"):
        registry.writer_schema(42)
    with pytest.raises(RegistryUnavailable):
        AvroEncoder("changelog_state_v1", "t", registry)


def test_a_registry_that_accepts_and_never_answers_is_an_outage_too() -> None:
    """A listening socket that nobody serves: without a request timeout the client waits forever."""
    import socket
    import time

    from streams.serde import Registry, RegistryUnavailable

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshakes; nothing ever reads or writes
        registry = Registry(f"http://127.0.0.1:{silent.getsockname()[1]}", attempts=2, timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match="did not answer"):
            registry.writer_schema(42)
        assert time.monotonic() - started < 5
