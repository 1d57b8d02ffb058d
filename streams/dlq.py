"""Dead-letter records: the original bytes, untouched, with the reason and the source coordinates
in headers, so an operator can find, fix and replay exactly what was refused.
"""

from __future__ import annotations

DLQ_HEADERS = ("dlq.reason", "dlq.detail", "dlq.app", "dlq.source.topic", "dlq.source.partition",
               "dlq.source.offset", "dlq.source.timestamp")


def dlq_headers(app: str, reason: str, detail: str, topic: str, partition: int, offset: int,
                timestamp_ms: int) -> list[tuple[str, bytes]]:
    values = (reason, detail[:1000], app, topic, str(partition), str(offset), str(timestamp_ms))
    return [(name, value.encode("utf-8", "replace")) for name, value in zip(DLQ_HEADERS, values, strict=True)]


def headers_dict(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers or []}
