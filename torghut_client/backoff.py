"""Bounded exponential backoff with jitter, for the Torghut client's retry loop.

Why: the subscriber thread retried a failing poll at once, for ever: a broker refusing our
credentials or a fatal client error became a hot loop that filled Torghut's log and burned a core.
Exponential growth backs off quickly; the cap bounds every wait (the book's staleness rules keep
Torghut safe meanwhile, and a recovered broker is noticed within ``max_s``); jitter keeps a fleet
of Torghut replicas from retrying in lock-step.

Why a seeded generator: the delays are reproducible in tests (pass ``seed``), while the default
seed, a hash of host name and process id, still differs between replicas.
"""

from __future__ import annotations

import os
import random
import socket
import zlib


def default_seed() -> int:
    return zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())


class Backoff:
    """Delays ``initial_s * multiplier**n`` capped at ``max_s``, each shortened by up to ``jitter``
    (a fraction): the n-th delay lies in ``[c * (1 - jitter), c]`` with ``c`` the capped value."""

    def __init__(self, initial_s: float = 0.2, max_s: float = 10.0, multiplier: float = 2.0, jitter: float = 0.5,
                 seed: int | None = None) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"backoff needs 0 < initial_s <= max_s (got {initial_s}, {max_s})")
        if multiplier < 1:
            raise ValueError(f"backoff multiplier must be >= 1 (got {multiplier})")
        if not 0 <= jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1) (got {jitter})")
        self.initial_s, self.max_s, self.multiplier, self.jitter = initial_s, max_s, multiplier, jitter
        self._rng = random.Random(default_seed() if seed is None else seed)
        self.failures = 0

    def ceiling(self, failures: int) -> float:
        """The un-jittered delay after ``failures`` consecutive failures (0-based), never above ``max_s``."""
        value = self.initial_s
        for _ in range(failures):  # stepwise, so a long outage cannot overflow a float power
            value *= self.multiplier
            if value >= self.max_s:
                return self.max_s
        return min(value, self.max_s)

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next attempt."""
        ceiling = self.ceiling(self.failures)
        self.failures += 1
        return ceiling * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """After a success: the next failure waits ``initial_s`` again."""
        self.failures = 0
