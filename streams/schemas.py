"""Loading the Avro contracts from ``schemas/``.

Why one loader: the runtime, the tail command, the client library and the tests must all use the
same parsed schema for a stem, and parsing is not free.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


class SchemaNotFound(LookupError):
    pass


@lru_cache(maxsize=64)
def schema_text(stem: str) -> str:
    """Compact JSON of a schema: ``stem`` names a file in ``schemas/``, or is a path ending in .avsc."""
    path = Path(stem) if stem.endswith(".avsc") else SCHEMA_DIR / f"{stem}.avsc"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc")))
        raise SchemaNotFound(f"no Avro schema {stem!r} in {SCHEMA_DIR} (known: {known})")
    # Normalise to compact JSON so the registry sees the same text each time.
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


@lru_cache(maxsize=64)
def parsed_schema(stem: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_text(stem)))

