"""Stable seeds from stable inputs (a run seed plus names), never from ``hash()`` or the clock.

Why sha256 of the name: Python's ``hash`` of a str is salted per process, so two processes (the
feed and the paper executor) would disagree; the digest is the same everywhere, forever.
"""

from __future__ import annotations

import hashlib

import numpy as np


def name_key(name: str) -> int:
    """A 64-bit integer from ``name`` that is the same in every process and Python version."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def seed_sequence(seed: int, *names: str | int) -> np.random.SeedSequence:
    """SeedSequence over ``seed`` and each name (strings through :func:`name_key`)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    entropy = [int(seed)] + [name_key(n) if isinstance(n, str) else int(n) for n in names]
    return np.random.SeedSequence(entropy)


def rng(seed: int, *names: str | int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *names)))
