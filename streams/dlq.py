"""Dead-letter records: the original bytes, untouched, with the reason and the source coordinates
in headers, so an operator can find, fix and replay exactly what was refused.
"""

from __future__ import annotations

from typing import Any

DLQ_HEADERS = ("dlq.reason", "dlq.detail", "dlq.app", "dlq.source.topic", "dlq.source.partition",
               "dlq.source.offset", "dlq.source.timestamp")


def dlq_headers(app: str, reason: str, detail: str, topic: str, partition: int, offset: int,
                timestamp_ms: int) -> list[tuple[str, bytes]]:
    values = (reason, detail[:1000], app, topic, str(partition), str(offset), str(timestamp_ms))
    return [(name, value.encode("utf-8", "replace")) for name, value in zip(DLQ_HEADERS, values, strict=True)]


def headers_dict(headers: Any) -> dict[str, str]:
    """Kafka headers (list of (name, bytes|str|None)) as a plain dict of strings."""
    out: dict[str, str] = {}
    for name, value in headers or []:
        out[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
    return out
