"""The exactly-once runtime bound to Torghut's topic catalog.

Why a subclass and not a default in streams/: the runtime is generic plumbing and must be told
where refused records go and which Avro schema an input topic carries; for microexec's consumers
both come from the catalog (torghut_domain/topics.py), so every consumer and test builds the same
runtime by naming only the processor, the settings and the application id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.processor import Processor
from streams.runtime import ExactlyOnceRuntime
from streams.serde import Registry
from streams.settings import Settings
from torghut_domain.topics import schema_of, topic


class TorghutRuntime(ExactlyOnceRuntime):
    """``ExactlyOnceRuntime`` with the catalog's DLQ topic and input schemas."""

    def __init__(self, processor: Processor, settings: Settings, app_id: str, *,
                 registry: Registry | None = None, consumer_overrides: Mapping[str, Any] | None = None,
                 producer_overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__(processor, settings, app_id, dlq_topic=topic("dlq"), schema_of=schema_of,
                         registry=registry, consumer_overrides=consumer_overrides,
                         producer_overrides=producer_overrides)
