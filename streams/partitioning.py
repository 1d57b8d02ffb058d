"""Kafka's default key partitioner (murmur2, as the Java client and librdkafka's ``murmur2_random``).

Why it is needed in Python: a record keyed by one thing sometimes has to live beside records keyed
by another. A shortfall distribution is keyed by order id (DESIGN.md) but the TCA consumer joins it
with the order's trade updates, which the upstream keys by symbol; keyed state is per input partition,
so the distribution must land on the partition the symbol's records land on. ``Emit.partition_key``
asks the runtime for exactly that placement, computed here the way every Kafka producer computes it.
"""

from __future__ import annotations

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` as an unsigned 32-bit value (seed 0x9747b28c)."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length & ~3
    for i in range(0, end, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = length & 3
    if tail == 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition a keyed record goes to among ``partitions`` (Kafka's ``toPositive(murmur2) % n``)."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return (murmur2(raw) & 0x7FFFFFFF) % partitions
