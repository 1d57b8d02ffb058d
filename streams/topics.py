"""The topic catalog (DESIGN.md): names, formats, partitions and cleanup policy in one table.

Why a catalog: `microexec topics create`, the consumers and the tests must agree on every name and
on which topics are compacted; each name can be overridden by an environment variable
(``MICROEXEC_TOPIC_<NAME>``) so a deployment can follow its own naming without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

JSON = "torghut_json"
AVRO = "avro"
RAW = "raw"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    key: str  # catalog key, e.g. "state"
    default_name: str
    fmt: str
    compacted: bool
    schema: str | None  # Avro schema stem in schemas/, for AVRO topics
    written_by: str

    @property
    def name(self) -> str:
        return os.environ.get(f"MICROEXEC_TOPIC_{self.key.upper()}", self.default_name)

    @property
    def subject(self) -> str:
        return f"{self.name}-value"


CATALOG: tuple[TopicSpec, ...] = (
    TopicSpec("quotes", "torghut.quotes.v1", JSON, False, None, "market feed"),
    TopicSpec("trades", "torghut.trades.v1", JSON, False, None, "market feed"),
    TopicSpec("trade_updates", "torghut.trade-updates.v2", JSON, False, None, "Torghut / paper executor"),
    TopicSpec("book_l2", "torghut.microexec.book.l2.v1", AVRO, False, "l2_book_v1", "depth feed"),
    TopicSpec("state", "torghut.microstructure.state.v1", AVRO, True, "microstructure_state_v1",
              "state consumer"),
    TopicSpec("advice", "torghut.execution.advice.v1", AVRO, True, "execution_advice_v1", "advisor consumer"),
    TopicSpec("calibration", "torghut.microexec.calibration.v1", AVRO, True, "hawkes_calibration_v1",
              "simulation consumer"),
    TopicSpec("shortfall", "torghut.microexec.shortfall.v1", AVRO, False, "shortfall_distribution_v1",
              "simulation consumer"),
    TopicSpec("tca_divergence", "torghut.tca.divergence.v1", AVRO, False, "tca_divergence_v1",
              "tca consumer"),
    TopicSpec("alerts", "torghut.execution.alerts.v1", AVRO, False, "execution_alert_v1", "alerts consumer"),
    TopicSpec("dlq", "torghut.microexec.dlq.v1", RAW, False, None, "every consumer"),
)

BY_KEY = {spec.key: spec for spec in CATALOG}


def topic(key: str) -> str:
    """Resolved name of a catalog topic (environment override applied)."""
    return BY_KEY[key].name


def changelog_topic(app_id: str) -> str:
    return f"{app_id}.changelog"
