"""The JSON view of state and advice that Torghut's parser accepts.

Why a view: Torghut parses these payloads with Decimal (numbers may arrive as decimal strings, and
binary floats such as 0.1 must not leak as 0.1000000000000000055...) and accepts ISO 8601 timestamps
ending in ``Z``. Floats become plain positional decimal strings of their shortest round-trip
representation ("0.00001", never "1e-05"); non-finite floats become null (JSON has no NaN, and
Torghut must treat them as missing); timestamps are normalised to microseconds with a trailing Z.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns
from torghut_client.book import AppliedAdvice

TIMESTAMP_FIELDS = frozenset({"event_ts", "state_event_ts", "advice_event_ts"})


def decimal_string(value: float) -> str | None:
    """0.1 -> "0.1", 1e-05 -> "0.00001", 1745000.0 -> "1745000", NaN -> None."""
    if not math.isfinite(value):
        return None
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def iso_z(value: str) -> str:
    """Any RFC 3339 timestamp -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return format_ts_ns(parse_ts_ns(value))


def _convert(key: str, value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return decimal_string(value)
    if isinstance(value, str) and key in TIMESTAMP_FIELDS:
        try:
            return iso_z(value)
        except TimestampError:
            return None
    if isinstance(value, Mapping):
        return {k: _convert(k, v) for k, v in value.items()}
    return value


def record_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """A state or advice record (decoded Avro dict) as Torghut-parseable JSON."""
    return {key: _convert(key, item) for key, item in value.items()}


def applied_json(applied: AppliedAdvice) -> dict[str, Any]:
    """An ``advice_for`` answer, with its provenance, for Torghut to persist with the execution."""
    return record_json(asdict(applied))
