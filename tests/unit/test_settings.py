from __future__ import annotations

import pytest

from streams.settings import SETTINGS_TABLE, SettingsError, advisor_enabled, load_settings

BASE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}


def test_merge_bounds_default_and_override() -> None:
    from consumers.advisor.processor import AdvisorProcessor
    from consumers.state.processor import StateProcessor
    from streams.merging import merger_for

    s = load_settings(BASE)
    assert (s.lateness_ms, s.sparse_lateness_ms, s.merge_idle_ms) == (50, None, 500)
    state = merger_for(StateProcessor(), s)
    assert state is not None and set(state.lateness.values()) == {50}  # sparse inputs: the dense bound
    advisor = merger_for(AdvisorProcessor(), s)
    assert advisor is not None and sorted(advisor.lateness.values()) == [0, 50]  # its own sparse default
    s = load_settings({**BASE, "MICROEXEC_LATENESS_MS": "250", "MICROEXEC_SPARSE_LATENESS_MS": "40"})
    advisor = merger_for(AdvisorProcessor(), s)
    assert advisor is not None and sorted(advisor.lateness.values()) == [40, 250]  # the environment rules


def test_defaults_load() -> None:
    s = load_settings(BASE)
    assert s.commit_interval_ms == 100 and s.batch_size == 500 and s.security_protocol == "PLAINTEXT"
    assert s.kafka_common() == {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "PLAINTEXT"}


@pytest.mark.parametrize(("env", "names"), [
    ({}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({**BASE, "MICROEXEC_COMMIT_INTERVAL_MS": "fast"}, "MICROEXEC_COMMIT_INTERVAL_MS"),
    ({**BASE, "MICROEXEC_COMMIT_INTERVAL_MS": "5"}, "MICROEXEC_COMMIT_INTERVAL_MS"),
    ({**BASE, "MICROEXEC_BATCH_SIZE": "0"}, "MICROEXEC_BATCH_SIZE"),
    ({**BASE, "KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({**BASE, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "KAFKA_SASL_USERNAME"),
    ({**BASE, "SCHEMA_REGISTRY_URL": "registry:8081"}, "SCHEMA_REGISTRY_URL"),
    ({**BASE, "MICROEXEC_INSTANCE_ID": "a b"}, "MICROEXEC_INSTANCE_ID"),
    ({**BASE, "MICROEXEC_LATENESS_MS": "-1"}, "MICROEXEC_LATENESS_MS"),
    ({**BASE, "MICROEXEC_LATENESS_MS": "0.1s"}, "MICROEXEC_LATENESS_MS"),
    ({**BASE, "MICROEXEC_SPARSE_LATENESS_MS": "60001"}, "MICROEXEC_SPARSE_LATENESS_MS"),
    ({**BASE, "MICROEXEC_MERGE_IDLE_MS": "0"}, "MICROEXEC_MERGE_IDLE_MS"),
])
def test_bad_values_fail_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_sasl_settings_reach_the_client_config() -> None:
    s = load_settings({**BASE, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u",
                       "KAFKA_SASL_PASSWORD": "p"})
    assert s.kafka_common()["sasl.mechanism"] == "SCRAM-SHA-512" and s.kafka_common()["sasl.username"] == "u"


def test_advisor_switch() -> None:
    assert advisor_enabled({}) is True
    assert advisor_enabled({"EXECUTION_ADVISOR_ENABLED": "false"}) is False
    with pytest.raises(SettingsError, match="EXECUTION_ADVISOR_ENABLED"):
        advisor_enabled({"EXECUTION_ADVISOR_ENABLED": "maybe"})


def test_every_variable_is_documented_in_the_readme() -> None:
    """The README's table, or a topic page under docs/ (the merge's settings are in docs/ordering.md)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text() + "".join(p.read_text() for p in sorted((root / "docs").glob("*.md")))
    missing = [v.name for v in SETTINGS_TABLE if f"`{v.name}`" not in readme]
    assert not missing, f"README's settings table lacks {missing}"
