"""Avro binary encoding of *flat* records (primitive fields and ``[null, primitive]`` unions).

Why next to fastavro and not instead of it: every record our consumers publish is flat, and on the
state consumer's hot path ``fastavro.schemaless_writer`` cost ~20 us per record on this hardware,
most of it generic dispatch and union resolution per field. For a flat schema the encoding is a
fixed sequence of per-field writers, compiled once from the schema here (about 5x cheaper). Any
schema with another shape (arrays, maps, nested records, enums, fixed, logical types) returns
None from ``compile_flat_encoder`` and stays with fastavro. The bytes are identical to fastavro's,
which a property test checks field type by field type against fastavro itself.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

FieldWriter = Callable[[Any], bytes]
_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_FLOAT = struct.Struct("<f").pack
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_STRING_CACHE_LIMIT = 8192  # symbols, topic names, enum-like strings: the few values that repeat
_NO_DEFAULT = object()


def _varint(zigzag: int) -> bytes:
    if zigzag < 0x80:
        return bytes((zigzag,))
    out = bytearray()
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


def _integer(low: int, high: int) -> FieldWriter:
    def write(value: Any) -> bytes:
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{value!r} is not an int")
            value = int(value)
        if not low <= value <= high:
            raise ValueError(f"{value} out of range")
        return _varint((value << 1) ^ (value >> 63))

    return write


def _double(value: Any) -> bytes:
    try:
        return _PACK_DOUBLE(value)  # what converts to a C double (int, float, numpy floats...)
    except struct.error as exc:
        raise TypeError(f"{value!r} is not a double") from exc


def _float(value: Any) -> bytes:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _PACK_FLOAT(value)
        except OverflowError as exc:  # beyond float32: what struct refuses
            raise ValueError(str(exc)) from exc
    raise TypeError(f"{value!r} is not a float")


def _boolean(value: Any) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise TypeError(f"{value!r} is not a boolean")


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"{value!r} is not bytes")
    return _varint(len(value) << 1) + bytes(value)


def _string_writer() -> FieldWriter:
    return _cached_string_writer({})


def _cached_string_writer(cache: dict[str, bytes]) -> FieldWriter:
    """Encodes a string and remembers it (the generated code reads the cache before calling)."""

    def write(value: Any) -> bytes:
        encoded = cache.get(value) if type(value) is str else None
        if encoded is not None:
            return encoded
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a string")
        data = value.encode("utf-8")
        encoded = _varint(len(data) << 1) + data
        if len(cache) >= _STRING_CACHE_LIMIT:
            cache.clear()
        cache[value] = encoded
        return encoded

    return write


def _primitive(kind: Any) -> FieldWriter | None:
    if kind == "double":
        return _double
    if kind == "string":
        return _string_writer()
    if kind == "long":
        return _integer(*_INT64)
    if kind == "int":
        return _integer(*_INT32)
    if kind == "boolean":
        return _boolean
    if kind == "float":
        return _float
    if kind == "bytes":
        return _bytes
    return None


def _nullable(null_index: int, inner: FieldWriter, inner_index: int) -> FieldWriter:
    """The slow path's writer of a ``[null, T]`` union (the generated code inlines the same)."""
    null_tag, value_tag = _varint(null_index << 1), _varint(inner_index << 1)

    def write(value: Any) -> bytes:
        if value is None:
            return null_tag
        return value_tag + inner(value)

    return write


def _branch(kind: Any) -> tuple[str, int] | None:
    """(primitive type, index of the non-null branch) for a field type, index -1 if not a union."""
    if isinstance(kind, str):
        return (kind, -1) if kind in _PRIMITIVES else None
    if isinstance(kind, list) and len(kind) == 2 and "null" in kind:
        other = kind[1 - kind.index("null")]
        if isinstance(other, str) and other in _PRIMITIVES and other != "null":
            return other, 1 - kind.index("null")
    return None


_PRIMITIVES = frozenset({"double", "float", "string", "long", "int", "boolean", "bytes"})


def compile_flat_encoder(schema: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bytes] | None:
    """An encoder for records of ``schema`` (the JSON schema, not fastavro's parsed form), or None
    if the schema is not flat.

    Valid records encode to fastavro's bytes. Invalid values raise TypeError/ValueError, and a
    missing field without a default KeyError; this is stricter than fastavro outside unions
    (fastavro writes 1.5 into a long as 1, anything truthy into a boolean, an int beyond 32 bits
    into an int), on purpose: a record that does not fit its schema is a producer bug to surface.
    A missing field takes its default (null for a nullable field without one, as fastavro does).

    Why generated code: a flat record is one expression, one ``b"".join`` over per-field parts,
    with the common cases (doubles, cached strings, null tags) inline instead of a Python call
    per field, which is most of the gain over a per-field writer loop.
    """
    if schema.get("type") != "record":
        return None
    namespace: dict[str, Any] = {"_D": _PACK_DOUBLE, "_STRUCT_ERROR": struct.error}
    parts: list[str] = []
    fields: list[tuple[str, FieldWriter, Any]] = []
    for i, field in enumerate(schema.get("fields", ())):
        kind = field["type"]
        shape = _branch(kind)
        if shape is None:
            return None
        primitive, value_index = shape
        writer = _primitive(primitive)
        assert writer is not None
        name = field["name"]
        value = f"r[{name!r}]" if value_index < 0 else f"_v{i}"
        if primitive == "double":
            expr = f"_D({value})"
        elif primitive == "string":
            namespace[f"_c{i}"] = cache = {}  # type: ignore[var-annotated]
            namespace[f"_w{i}"] = _cached_string_writer(cache)
            expr = f"(_c{i}.get({value}) or _w{i}({value}))"
        else:
            namespace[f"_w{i}"] = writer
            expr = f"_w{i}({value})"
        if value_index >= 0:
            null_tag, value_tag = _varint((1 - value_index) << 1), _varint(value_index << 1)
            expr = f"({null_tag!r} if (_v{i} := r[{name!r}]) is None else {value_tag!r} + {expr})"
            writer = _nullable(1 - value_index, writer, value_index)
        parts.append(expr)
        default = field.get("default", None if value_index >= 0 else _NO_DEFAULT)
        fields.append((name, writer, default))
    source = "def _encode(r):\n    return b''.join((" + ", ".join(parts) + (",))\n" if parts else "))\n")
    exec(compile(source, f"<avro encoder {schema.get('name')}>", "exec"), namespace)
    fast: Callable[[Mapping[str, Any]], bytes] = namespace["_encode"]

    def encode(record: Mapping[str, Any]) -> bytes:
        try:
            return fast(record)
        except KeyError:
            pass
        except struct.error as exc:  # a double that isn't a number
            raise TypeError(str(exc)) from exc
        out = []
        for name, write, default in fields:
            if name in record:
                out.append(write(record[name]))
            elif default is _NO_DEFAULT:
                raise KeyError(f"no value and no default for {name}")
            else:
                out.append(write(default))
        return b"".join(out)

    return encode
