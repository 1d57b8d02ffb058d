"""What a topic catalog is made of, and the topics the runtime names for itself.

Why only the shape here: which topics a deployment has is the domain's business (the catalog lives
with it); the runtime only needs a spec's resolved name and the
name of its own changelog. Each catalog name can be overridden by an environment variable
(``MICROEXEC_TOPIC_<KEY>``) so a deployment can follow its own naming without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicSpec:
    key: str  # catalog key, e.g. "state"
    default_name: str
    fmt: str
    compacted: bool
    schema: str | None  # Avro schema stem in schemas/, for Avro topics
    written_by: str

    @property
    def name(self) -> str:
        return os.environ.get(f"MICROEXEC_TOPIC_{self.key.upper()}", self.default_name)

    @property
    def subject(self) -> str:
        return f"{self.name}-value"


def changelog_topic(app_id: str) -> str:
    return f"{app_id}.changelog"
