"""Shared helpers for the benchmark scripts: a broker to run against and the closing JSON line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def kafka_settings():
    """Settings for the broker in the environment, else the local stack (started if needed)."""
    from streams.infra import stack
    from streams.settings import load_settings

    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        cfg = stack.StackConfig.from_env()
        stack.up(cfg)
        os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["SCHEMA_REGISTRY_URL"] = cfg.bootstrap, cfg.registry_url
    return load_settings()


def report(name: str, ours: float, reference: float, unit: str) -> None:
    """The closing line every benchmark prints: one JSON object."""
    print(json.dumps({"name": name, "ours": round(ours, 3), "reference": round(reference, 3),
                      "ratio": round(ours / reference, 3) if reference else None, "unit": unit}))
