"""The state consumer's run records leave the processor already encoded (consumers/state/encoding.py).

What could fail: a body that differs from the generic encoder's bytes for the same record (the
differential tests check every run output of their feeds for that, test_state_quote_run.py's
``encoded_as_its_dict``); the runtime's encoder not taking the body, or taking it for another
schema; a schema change the hand-ordered writer does not follow.
"""

from __future__ import annotations

import json

import pytest

from consumers.state.encoding import check_layout
from consumers.state.processor import StateProcessor
from streams.processor import EncodedRecord, RawRecord
from streams.serde import AvroEncoder
from streams.state import TransactionalState, canonical_json
from tests.support.synthetic_market import synthetic_market
from torghut_domain.topics import topic


def _run_outputs() -> list[EncodedRecord]:
    records = [r for r in synthetic_market([f"S{i}" for i in range(5)], 3_000, seed=4, step_ms=3.0, trade_every=7)
               if r.topic in (topic("quotes"), topic("trades"))]
    raws = [RawRecord(r.topic, r.offset, r.timestamp_ms, None, json.dumps(r.value).encode()) for r in records]
    processor, state = StateProcessor(), TransactionalState()
    out: list[EncodedRecord] = []
    for i in range(0, len(raws), 200):
        result = processor.process_run(0, raws[i:i + 200], state)
        assert result is not None
        out += [emit.value for _, emit in result]  # type: ignore[misc]
    assert out and all(type(value) is EncodedRecord for value in out)
    return out


def test_the_runtime_sends_the_body_with_the_registry_framing() -> None:
    encoder = AvroEncoder("microstructure_state_v1", "state", None)
    encoder.prefix = b"\x00\x00\x00\x00\x07"  # as with a registry: magic byte and schema id
    for value in _run_outputs():
        assert encoder.encode(value) == encoder.prefix + value.body
        assert encoder.encode(value) == encoder.encode(dict(value.fields()))  # the dict's bytes


def test_a_record_for_another_schema_is_encoded_from_its_fields() -> None:
    value = _run_outputs()[0]
    other = EncodedRecord("some_other_schema_v1", b"not avro", value.fields)
    encoder = AvroEncoder("microstructure_state_v1", "state", None)
    assert encoder.encode(other) == encoder.encode(dict(value.fields()))


def test_reads_like_the_dict() -> None:
    value = _run_outputs()[-1]
    fields = value.fields()
    assert value == fields and fields == value
    assert dict(value) == fields and value["symbol"] == fields["symbol"] and len(value) == len(fields)
    assert canonical_json(value) == canonical_json(fields)


def test_a_schema_the_writer_does_not_follow_is_refused() -> None:
    check_layout("microstructure_state_v1")
    with pytest.raises(RuntimeError, match="no longer matches"):
        check_layout("execution_advice_v1")
