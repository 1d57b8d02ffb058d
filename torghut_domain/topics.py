"""The topic catalog (DESIGN.md): names, formats, partitions and cleanup policy in one table.

Why a catalog: `microexec topics create`, the consumers and the tests must agree on every name and
on which topics are compacted; each name can be overridden by an environment variable
(``MICROEXEC_TOPIC_<NAME>``, see streams/topics.py) so a deployment can follow its own naming
without code changes.
"""

from __future__ import annotations

from streams.topics import TopicSpec, changelog_topic

JSON = "torghut_json"
AVRO = "avro"
RAW = "raw"

__all__ = ["AVRO", "BY_KEY", "CATALOG", "JSON", "RAW", "TopicSpec", "changelog_topic", "schema_of", "topic"]

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


def schema_of(topic_name: str) -> str | None:
    """The Avro schema stem of a catalog topic by its resolved name (None: not Avro, or not ours)."""
    for spec in CATALOG:
        if spec.name == topic_name:
            return spec.schema
    return None
