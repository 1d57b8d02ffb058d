"""The feed keeps the consumers' event-time contract (producers/replay.py ``ordered``): between two
flushes, the records sent span at most half the lateness bound, so however the producer's
per-partition batches overtake each other, nothing reaches the broker after a record more than the
bound newer (docs/ordering.md). A recording stand-in for the producer shows where the flushes fall."""

from __future__ import annotations

from typing import Any

import pytest

import producers.replay as feed
from producers.records import quote_record, trade_record
from streams.settings import load_settings


class RecordingProducer:
    """Records produce and flush calls in order; every flush delivers everything."""

    calls: list[tuple[str, int]] = []

    def __init__(self, _conf: dict[str, Any]) -> None:
        RecordingProducer.calls = []

    def produce(self, _topic: str, _value: bytes, _key: bytes, *, timestamp: int, on_delivery: Any) -> None:
        RecordingProducer.calls.append(("produce", timestamp))

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        RecordingProducer.calls.append(("flush", 0))
        return 0


def _segments(calls: list[tuple[str, int]]) -> list[list[int]]:
    out: list[list[int]] = [[]]
    for kind, ts in calls:
        if kind == "flush":
            out.append([])
        else:
            out[-1].append(ts)
    return [s for s in out if s]


def _records(n: int, step_ms: int) -> list[Any]:
    out = []
    for k in range(n):
        t = 1_700_000_000_000_000_000 + k * step_ms * 1_000_000
        out.append(quote_record("X", t, t, 10.0, 1, 10.01, 1, k, "test") if k % 3 else
                   trade_record("X", t, t, 10.0, 1, k, k, "test"))
    return out


@pytest.mark.parametrize("lateness_ms", [50, 20, 0])
def test_flushes_bound_what_may_overtake_to_half_the_lateness(monkeypatch: pytest.MonkeyPatch,
                                                               lateness_ms: int) -> None:
    monkeypatch.setattr(feed, "Producer", RecordingProducer)
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "unused:9092", "MICROEXEC_LATENESS_MS": str(lateness_ms)})
    records = _records(400, 7)  # 2.8 s of event time
    assert feed.replay(settings, records, show_progress=False) == 400
    segments = _segments(RecordingProducer.calls)
    assert sum(map(len, segments)) == 400 and RecordingProducer.calls[-1] == ("flush", 0)
    assert all(max(s) - min(s) <= lateness_ms // 2 for s in segments)
    assert len(segments) >= 2800 // max(lateness_ms // 2 + 7, 7) - 1  # a flush per half bound, not fewer


def test_unordered_loading_sends_everything_before_one_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "Producer", RecordingProducer)
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "unused:9092"})
    assert feed.replay(settings, _records(400, 7), show_progress=False, ordered=False) == 400
    assert [k for k, _ in RecordingProducer.calls].count("flush") == 1
