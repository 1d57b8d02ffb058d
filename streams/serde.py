"""Bytes <-> records: Confluent wire-format Avro through a registry, bare Avro without one, JSON,
and whatever formats a domain package registers (``register_format``).

Why fastavro directly instead of confluent_kafka's AvroSerializer: the wire format is five bytes
and a schemaless Avro body, and the per-call machinery of the serializer classes costs more than
the encoding itself on the hot path. The registry is still the authority: schemas are registered
(subject ``<topic>-value``) or looked up by id, and the output is readable by the stock
``AvroDeserializer`` (an integration test proves it).

Every decode failure raises ``InvalidRecord`` with a stable reason, so the runtime can route it
to the DLQ without knowing formats.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import fastavro
import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

try:  # the HTTP library the registry client was built on (httpx, or its successor httpx2)
    from confluent_kafka.schema_registry.common._httpx_compat import httpx as _http
except ImportError:  # older clients import httpx directly
    import httpx as _http  # type: ignore[no-redef]

from streams.avro_flat import compile_flat_encoder
from streams.processor import FORMAT_AVRO, FORMAT_JSON, FORMAT_RAW, EncodedRecord, InvalidRecord
from streams.schemas import parsed_schema, schema_text

T = TypeVar("T")
_MAGIC = 0
_HEADER = struct.Struct(">bI")


class RegistryUnavailable(RuntimeError):
    """The registry did not answer. Never a verdict on a record: the consumer stops (nothing is
    committed) rather than dead-letter good input during an outage."""


class RegistryAuthError(RegistryUnavailable):
    """The registry refused our credentials (401/403): a configuration error naming the setting, and
    like an outage never a verdict on a record."""


# Seconds before a registry request is abandoned. confluent-kafka's client waits forever by default:
# a registry that accepts a connection and never answers then hangs the consumer (seen with a
# half-open keep-alive connection) instead of reaching RegistryUnavailable.
REGISTRY_TIMEOUT_S = 10
# The client's own retry settings: exponential backoff with full jitter from 200 ms, at most 3.2 s
# between attempts, on transport failures and on the statuses it deems transient (408, 429, 5xx).
REGISTRY_RETRY_WAIT_MS = 200
REGISTRY_RETRY_MAX_WAIT_MS = 3_200
_UNAVAILABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Registry:
    """A thin, caching view of a Confluent-API schema registry (Karapace, Confluent, Apicurio ccompat)."""

    def __init__(self, url: str, attempts: int = 5, timeout_s: float = REGISTRY_TIMEOUT_S,
                 conf: Mapping[str, Any] | None = None) -> None:
        """``conf``: basic auth and TLS (``Settings.registry_client_conf()``); None reads them from the
        SCHEMA_REGISTRY_* variables, so every call site that passes only the URL gets them too."""
        from streams.security import split_url_credentials

        if conf is None:
            from streams.settings import load_registry_security, registry_client_conf

            _, user_info, tls = load_registry_security()
            conf = registry_client_conf(user_info, tls)
        url, url_user_info = split_url_credentials(url)  # the URL is printed in errors: no credentials in it
        if url_user_info and "basic.auth.user.info" not in conf:
            conf = {**conf, "basic.auth.user.info": url_user_info.reveal()}
        self.url = url
        # The client retries (``attempts`` tries in all); the timeout turns a silent registry into a
        # retried failure.
        self.client = SchemaRegistryClient({
            **conf, "url": url, "timeout": timeout_s, "max.retries": max(attempts - 1, 0),
            "retries.wait.ms": REGISTRY_RETRY_WAIT_MS, "retries.max.wait.ms": REGISTRY_RETRY_MAX_WAIT_MS})
        self.attempts = attempts
        self._ids: dict[tuple[str, str], int] = {}
        self._by_id: dict[int, Any] = {}

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """One registry request (the client has retried it): what is an outage becomes
        RegistryUnavailable, refused credentials RegistryAuthError; any other error is the
        registry's verdict (SchemaRegistryError) or a bug, and passes through as it is."""
        try:
            return fn()
        except SchemaRegistryError as exc:
            if exc.http_status_code in (401, 403):
                raise RegistryAuthError(f"schema registry at {self.url} refused our credentials ({what}: HTTP "
                                        f"{exc.http_status_code}): check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"
                                        ) from None
            if exc.http_status_code in _UNAVAILABLE_STATUSES:
                raise RegistryUnavailable(f"schema registry at {self.url} is unavailable ({what}): HTTP "
                                          f"{exc.http_status_code} after {self.attempts} attempts") from exc
            raise
        except _http.TransportError as exc:  # no answer: refused, reset, timed out, TLS handshake failed
            raise RegistryUnavailable(f"schema registry at {self.url} did not answer ({what}): {exc}") from exc

    def register(self, subject: str, stem: str) -> int:
        """Register (idempotently) and return the schema id; BACKWARD violations raise here."""
        cache_key = (subject, stem)
        if cache_key not in self._ids:
            schema_id = self._call(f"register {subject}", lambda: self.client.register_schema(
                subject, Schema(schema_text(stem), "AVRO")))
            self._ids[cache_key] = schema_id
            self._by_id[schema_id] = parsed_schema(stem)
        return self._ids[cache_key]

    def writer_schema(self, schema_id: int) -> Any:
        if schema_id not in self._by_id:
            try:
                schema = self._call(f"schema {schema_id}", lambda: self.client.get_schema(schema_id))
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise InvalidRecord("unknown_schema_id", f"schema id {schema_id} not in registry") from exc
                raise
            self._by_id[schema_id] = fastavro.parse_schema(json.loads(schema.schema_str or "null"))
        return self._by_id[schema_id]


class AvroEncoder:
    """Encodes dicts for one topic; Confluent framing when a registry is configured, else bare Avro."""

    def __init__(self, stem: str, topic: str, registry: Registry | None) -> None:
        self.stem = stem
        self.schema = parsed_schema(stem)
        self.prefix = b""
        if registry is not None:
            self.prefix = _HEADER.pack(_MAGIC, registry.register(f"{topic}-value", stem))
        # Flat schemas (all of ours but two) take the compiled encoder: same bytes, ~4x cheaper.
        self._flat = compile_flat_encoder(json.loads(schema_text(stem)))

    def encode(self, record: Mapping[str, Any]) -> bytes:
        if type(record) is EncodedRecord and record.stem == self.stem:
            return self.prefix + record.body  # built by the processor in this schema (EncodedRecord)
        if self._flat is not None:
            return self.prefix + self._flat(record)
        buf = io.BytesIO()
        buf.write(self.prefix)
        fastavro.schemaless_writer(buf, self.schema, record)
        return buf.getvalue()


class AvroDecoder:
    """Decodes one topic's records into the reader schema (schema resolution handles evolution)."""

    def __init__(self, stem: str | None, registry: Registry | None) -> None:
        self.reader = parsed_schema(stem) if stem else None
        self.registry = registry

    def decode(self, data: bytes) -> dict[str, Any]:
        if self.registry is not None:
            if len(data) < 5 or data[0] != _MAGIC:
                raise InvalidRecord("not_confluent_avro", "missing magic byte 0 and schema id")
            _, schema_id = _HEADER.unpack_from(data)
            writer = self.registry.writer_schema(schema_id)
            body = io.BytesIO(data[5:])
        else:
            if self.reader is None:
                raise InvalidRecord("no_reader_schema", "bare Avro needs a schema")
            writer = self.reader
            body = io.BytesIO(data)
        try:
            record = fastavro.schemaless_reader(body, writer, self.reader or writer)
        except (EOFError, StopIteration, ValueError, IndexError, UnicodeDecodeError, TypeError) as exc:
            raise InvalidRecord("avro_decode_error", f"{type(exc).__name__}: {exc}") from exc
        if body.tell() != len(body.getbuffer()):
            raise InvalidRecord("avro_decode_error", "trailing bytes after the Avro record")
        if not isinstance(record, dict):
            raise InvalidRecord("avro_decode_error", "Avro value is not a record")
        return record


def decode_json(data: bytes) -> Any:
    """orjson on the hot path; the standard library only for what orjson refuses, so that the DLQ
    reason stays precise (Python producers write NaN as a bare token: that is a ``non_finite_number``
    for the envelope parser to name, not ``invalid_json``)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord("invalid_utf8", str(exc)) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRecord("invalid_json", str(exc)) from exc


def decode_key(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord("invalid_key", f"key is not UTF-8: {exc}") from exc


# Formats beyond the built-in ones, by name: a domain's typed decoders (bytes -> value, InvalidRecord
# for what they refuse). Registered at import of the module that defines the format's name, so a
# processor that names a format has registered it.
_FORMATS: dict[str, Callable[[bytes], Any]] = {}


def register_format(name: str, decode: Callable[[bytes], Any]) -> str:
    """Make ``name`` a format processors can give in ``input_formats``; returns ``name``."""
    if name in (FORMAT_AVRO, FORMAT_RAW, FORMAT_JSON) or _FORMATS.get(name, decode) is not decode:
        raise ValueError(f"input format {name!r} is already taken")
    _FORMATS[name] = decode
    return name


class ValueDecoder:
    """Picks the decoder for a topic's format (processor.input_formats)."""

    def __init__(self, fmt: str, avro_stem: str | None, registry: Registry | None) -> None:
        self.fmt = fmt
        self.avro = AvroDecoder(avro_stem, registry) if fmt == FORMAT_AVRO else None
        self._raw = fmt == FORMAT_RAW  # bytes as they are: checked inline, the passthrough's hot path
        self._decode: Callable[[bytes], Any] = decode_json  # FORMAT_JSON (and unused for raw)
        if self.avro is not None:
            self._decode = self.avro.decode
        elif fmt in _FORMATS:
            self._decode = _FORMATS[fmt]
        elif not (self._raw or fmt == FORMAT_JSON):
            raise ValueError(f"unknown input format {fmt!r}")

    def decode(self, data: bytes | None) -> Any:
        if data is None or self._raw:
            return data
        return self._decode(data)
