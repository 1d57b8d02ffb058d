from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.settings import SECURITY_TABLE, SETTINGS_TABLE, SettingsError, advisor_enabled, load_settings

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


def test_created_delete_topics_keep_history_unless_told_otherwise() -> None:
    from streams.admin import retention_config, topic_config
    keep = retention_config(load_settings(BASE))
    assert keep == {"retention.ms": "-1", "retention.bytes": "-1"}
    assert topic_config(False, keep)["retention.ms"] == "-1"
    assert "retention.ms" not in topic_config(True, keep)  # compacted topics keep the latest per key anyway
    bounded = load_settings({**BASE, "MICROEXEC_TOPIC_RETENTION_MS": "604800000",
                             "MICROEXEC_TOPIC_RETENTION_BYTES": "1073741824"})
    assert retention_config(bounded) == {"retention.ms": "604800000", "retention.bytes": "1073741824"}


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
    ({**BASE, "MICROEXEC_TOPIC_RETENTION_MS": "60000"}, "MICROEXEC_TOPIC_RETENTION_MS"),
    ({**BASE, "MICROEXEC_TOPIC_RETENTION_MS": "-2"}, "MICROEXEC_TOPIC_RETENTION_MS"),
    ({**BASE, "MICROEXEC_TOPIC_RETENTION_BYTES": "1000"}, "MICROEXEC_TOPIC_RETENTION_BYTES"),
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
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text() + "".join(p.read_text() for p in sorted((root / "docs").glob("*.md")))
    missing = [v.name for v in SETTINGS_TABLE if f"`{v.name}`" not in readme]
    assert not missing, f"README's settings table lacks {missing}"


# ---------------------------------------------------------------------------- secured connections
SASL = {**BASE, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "alice",
        "KAFKA_SASL_PASSWORD": "hunter2-kafka"}


def test_oauthbearer_is_refused_with_a_clear_message() -> None:
    with pytest.raises(SettingsError, match=r"KAFKA_SASL_MECHANISM=OAUTHBEARER is not supported.*SCRAM-SHA-512"):
        load_settings({**SASL, "KAFKA_SASL_MECHANISM": "OAUTHBEARER"})


def test_secrets_never_print(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    cert = tmp_path / "cert.pem"
    key.write_text("k")
    cert.write_text("c")
    s = load_settings({**SASL, "KAFKA_SSL_CERTIFICATE_LOCATION": str(cert), "KAFKA_SSL_KEY_LOCATION": str(key),
                       "KAFKA_SSL_KEY_PASSWORD": "hunter2-key", "SCHEMA_REGISTRY_URL": "https://reg:8081",
                       "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "bob:hunter2-registry"})
    for text in (repr(s), str(s), f"{s}", f"{s.sasl_password}", repr(s.kafka_tls), str(s.schema_registry_user_info)):
        assert "hunter2" not in text
    # ... and are revealed only into the client configurations.
    assert s.kafka_common()["sasl.password"] == "hunter2-kafka"
    assert s.kafka_common()["ssl.key.password"] == "hunter2-key"
    assert s.registry_client_conf() == {"basic.auth.user.info": "bob:hunter2-registry"}


@pytest.mark.parametrize(("extra", "names"), [
    ({"KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"}, "KAFKA_SSL_CA_LOCATION='/nonexistent/ca.pem' is not"),
    ({"KAFKA_SSL_KEY_LOCATION": __file__}, "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together"),
    ({"KAFKA_SSL_ENDPOINT_IDENTIFICATION": "maybe"}, "KAFKA_SSL_ENDPOINT_IDENTIFICATION"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SSL_CA_LOCATION": __file__}, "does not use TLS"),
    ({"SCHEMA_REGISTRY_URL": "https://bob:hunter2-url@reg", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "bob:hunter2"},
     "keep one"),
    ({"SCHEMA_REGISTRY_URL": "https://reg", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "hunter2-no-colon"},
     "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password"),
    ({"SCHEMA_REGISTRY_URL": "reg.example:8081"}, "SCHEMA_REGISTRY_URL"),
    ({"SCHEMA_REGISTRY_URL": "ftp://bob:hunter2-url@reg"}, "SCHEMA_REGISTRY_URL='ftp://reg'"),
    ({"SCHEMA_REGISTRY_URL": "http://reg", "SCHEMA_REGISTRY_SSL_CA_LOCATION": __file__}, "is http://, not https://"),
])
def test_bad_security_settings_name_the_variable_and_hide_secrets(extra: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(names)) as failure:
        load_settings({**SASL, **extra})
    assert "hunter2" not in str(failure.value)


def test_tls_files_and_registry_credentials_reach_the_clients(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("ca")
    s = load_settings({**SASL, "KAFKA_SSL_CA_LOCATION": str(ca), "KAFKA_SSL_ENDPOINT_IDENTIFICATION": "none",
                       "SCHEMA_REGISTRY_URL": "https://bob:p%40ss@reg.example:8443/apis/ccompat/v7/",
                       "SCHEMA_REGISTRY_SSL_CA_LOCATION": str(ca)})
    conf = s.kafka_common()
    assert conf["ssl.ca.location"] == str(ca) and conf["ssl.endpoint.identification.algorithm"] == "none"
    assert callable(conf["error_cb"])  # refused credentials raise instead of retrying for ever
    assert s.schema_registry_url == "https://reg.example:8443/apis/ccompat/v7"  # credentials moved out of the URL
    assert s.registry_client_conf() == {"basic.auth.user.info": "bob:p@ss", "ssl.ca.location": str(ca)}


def test_every_security_variable_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    missing = [v.name for v in SECURITY_TABLE if f"`{v.name}`" not in doc]
    assert not missing, f"docs/security.md lacks {missing}"
