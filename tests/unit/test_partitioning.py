"""Kafka's murmur2 key partitioner, against the Java client's own test vectors."""

from __future__ import annotations

import pytest

from streams.partitioning import murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit results there).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), list(JAVA_VECTORS.items()))
def test_murmur2_matches_kafka(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected & 0xFFFFFFFF


def test_partition_is_positive_hash_modulo_count() -> None:
    for key in ("NVDA", "AAPL", "BTCUSDT", "ord-123", "é"):
        for n in (1, 3, 6, 12):
            assert partition_for(key, n) == (murmur2(key.encode()) & 0x7FFFFFFF) % n
    assert partition_for("x", 1) == 0
    with pytest.raises(ValueError):
        partition_for("x", 0)
