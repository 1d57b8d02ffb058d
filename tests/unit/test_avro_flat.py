"""The compiled flat-record encoder against fastavro: same bytes for every valid record of every
flat schema we publish, a refusal for values that do not fit."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.avro_flat import compile_flat_encoder
from streams.serde import AvroEncoder

SCHEMAS = sorted(Path(__file__).resolve().parents[2].joinpath("schemas").glob("*.avsc"))
FLAT = [p for p in SCHEMAS if compile_flat_encoder(json.loads(p.read_text())) is not None]

_VALUES = {
    "double": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53),
    "float": st.floats(width=32, allow_nan=False),
    "string": st.text(max_size=40) | st.sampled_from(["normal", "top_of_book", "AAPL", ""]),
    "long": st.integers(-(2**63), 2**63 - 1),
    "int": st.integers(-(2**31), 2**31 - 1),
    "boolean": st.booleans(),
    "bytes": st.binary(max_size=20),
}


def _value(kind: Any) -> st.SearchStrategy[Any]:
    if isinstance(kind, list):
        other = next(k for k in kind if k != "null")
        return st.none() | _VALUES[other]
    return _VALUES[kind]


def _records(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({f["name"]: _value(f["type"]) for f in schema["fields"]})


def _fastavro(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def test_every_published_schema_but_the_array_ones_is_flat() -> None:
    assert {p.stem for p in SCHEMAS} - {p.stem for p in FLAT} == {"hawkes_calibration_v1", "l2_book_v1"}


@pytest.mark.parametrize("path", FLAT, ids=lambda p: p.stem)
def test_valid_records_encode_to_fastavro_bytes(path: Path) -> None:
    schema = json.loads(path.read_text())
    encode = compile_flat_encoder(schema)
    assert encode is not None

    @settings(max_examples=300, deadline=None)
    @given(_records(schema))
    def check(record: dict[str, Any]) -> None:
        expected = _fastavro(schema, record)
        assert encode(record) == expected
        assert encode(record) == expected  # again: now from the string caches

    check()


def test_missing_fields_take_defaults_as_fastavro_does() -> None:
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": ["null", "double"]}, {"name": "b", "type": "double", "default": 2.5},
        {"name": "c", "type": "string"}, {"name": "d", "type": ["null", "long"], "default": None}]}
    encode = compile_flat_encoder(schema)
    assert encode is not None
    assert encode({"c": "x"}) == _fastavro(schema, {"c": "x"})
    with pytest.raises(KeyError):
        encode({"a": 1.0})


@pytest.mark.parametrize(("kind", "value"), [
    ("double", "1.5"), ("double", None), ("string", 5), ("string", None), ("string", b"ab"),
    ("long", 1.5), ("long", True), ("long", 2**63), ("int", 2**31), ("boolean", 1), ("boolean", "x"),
    (["null", "double"], "x"), (["null", "string"], 5), (["null", "long"], 1.0), (["null", "int"], -(2**31) - 1),
])
def test_values_that_do_not_fit_are_refused(kind: Any, value: Any) -> None:
    encode = compile_flat_encoder({"type": "record", "name": "R", "fields": [{"name": "x", "type": kind}]})
    assert encode is not None
    with pytest.raises((TypeError, ValueError)):
        encode({"x": value})


def test_the_runtime_encoder_uses_it_and_frames_for_the_registry() -> None:
    record = {"schema_version": "microstructure_state_v1", "symbol": "AAPL", "event_ts": "2026-01-02T15:00:00.000001Z",
              "spread_bps": 1.5, "depth_top5_usd": 1e5, "order_flow_imbalance": -0.25, "latency_ms_estimate": 3.0,
              "fill_hazard": 0.4, "liquidity_regime": "normal", "crumbling_quote_probability": None,
              "mechanical_liquidity_withdrawal_probability": None, "depth_source": "top_of_book",
              "latency_source": "feed_lag", "fill_hazard_horizon_s": 60.0, "bid_price": 10.0, "ask_price": 10.01,
              "mid_price": 10.005, "realized_volatility_bps": None, "emit_reason": "first", "source_topic": "q",
              "source_partition": 3, "source_offset": 99, "source_ingest_ts": "2026-01-02T15:00:00.000003Z",
              "producer_version": "1"}
    encoder = AvroEncoder("microstructure_state_v1", "state", None)
    assert encoder._flat is not None
    path = next(p for p in SCHEMAS if p.stem == "microstructure_state_v1")
    assert encoder.encode(record) == _fastavro(json.loads(path.read_text()), record)
    assert fastavro.schemaless_reader(io.BytesIO(encoder.encode(record)), encoder.schema) == record
