"""Configuration fingerprints for provenance.

Why: every advice record carries the hash of the configuration that produced it, so a quant can
tell which parameter set was live for any historical record; the hash is over canonical JSON so
field order and formatting never change it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def canonical_config_json(config: Any) -> str:
    value = dataclasses.asdict(config) if dataclasses.is_dataclass(config) and not isinstance(
        config, type) else config
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=list)


def config_hash(config: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``config`` (a dataclass or JSON-able value)."""
    return hashlib.sha256(canonical_config_json(config).encode("utf-8")).hexdigest()
