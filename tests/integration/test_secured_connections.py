"""Secured connections as Torghut runs them: SCRAM-SHA-512 over SASL_PLAINTEXT and SASL_SSL, mutual
TLS, and a registry behind HTTPS with basic auth; wrong credentials fail fast, naming the variable,
and no secret reaches a message, a log line or the process output."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from streams.admin import ensure_topics
from streams.security import KafkaAuthError, check_access
from streams.serde import Registry, RegistryAuthError, RegistryUnavailable
from streams.settings import Settings, load_settings
from tests.support.kafka_io import produce_all, read_all
from tests.support.registry_proxy import tls_basic_auth_proxy
from tests.support.secure_broker import SCRAM_PASSWORD, SCRAM_USER, SecureBroker, secure_broker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WRONG_PASSWORD = "wrong-Pa55-also-secret"
REGISTRY_USER_INFO = "torghut:registry-Pa55-secret"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("secure-broker")) as running:
        yield running


def _sasl_env(bootstrap: str, protocol: str, password: str = SCRAM_PASSWORD) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_SECURITY_PROTOCOL": protocol,
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": SCRAM_USER,
            "KAFKA_SASL_PASSWORD": password}


def _roundtrip(settings: Settings) -> None:
    """Create a topic, write three records, read them back: every client kind over the secured listener."""
    name = f"secured-{uuid.uuid4().hex[:8]}"
    ensure_topics(AdminClient(settings.kafka_common()), [(name, 1, False)], 1)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(3)]
    produce_all(settings, name, sent)
    assert [(m.key(), m.value()) for m in read_all(settings, name)] == sent


def test_scram_over_sasl_plaintext(broker: SecureBroker) -> None:
    _roundtrip(load_settings(_sasl_env(broker.sasl_plaintext, "SASL_PLAINTEXT")))


def test_scram_over_sasl_ssl_with_the_ca(broker: SecureBroker) -> None:
    env = {**_sasl_env(broker.sasl_ssl, "SASL_SSL"), "KAFKA_SSL_CA_LOCATION": str(broker.ca)}
    _roundtrip(load_settings(env))


def test_mutual_tls_with_a_client_certificate(broker: SecureBroker) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker.ssl, "KAFKA_SECURITY_PROTOCOL": "SSL",
           "KAFKA_SSL_CA_LOCATION": str(broker.ca), "KAFKA_SSL_CERTIFICATE_LOCATION": str(broker.client_cert),
           "KAFKA_SSL_KEY_LOCATION": str(broker.client_key)}
    _roundtrip(load_settings(env))


def test_wrong_password_fails_fast_naming_the_setting(broker: SecureBroker, caplog: pytest.LogCaptureFixture,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(_sasl_env(broker.sasl_plaintext, "SASL_PLAINTEXT", WRONG_PASSWORD))
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(KafkaAuthError, match="KAFKA_SASL_PASSWORD") as failure:
        check_access(settings.kafka_common(), timeout_s=30)
    elapsed = time.monotonic() - started
    # A plain consumer built from the same settings (what the runtime does) fails the same way.
    consumer = Consumer({**settings.kafka_common(), "group.id": "secured-wrong"})
    try:
        with pytest.raises(KafkaAuthError, match="KAFKA_SASL_USERNAME='alice'"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                consumer.consume(10, 0.5)
    finally:
        consumer.close()
    print(f"wrong password refused after {elapsed:.2f}s")
    assert elapsed < 10, f"took {elapsed:.1f}s to report a wrong password"
    out, err = capfd.readouterr()
    for text in (str(failure.value), caplog.text, out, err, repr(settings)):
        assert WRONG_PASSWORD not in text


def test_broker_certificate_from_another_ca_names_the_ca_setting(broker: SecureBroker) -> None:
    env = {**_sasl_env(broker.sasl_ssl, "SASL_SSL"), "KAFKA_SSL_CA_LOCATION": str(broker.other_ca)}
    with pytest.raises(KafkaAuthError, match="KAFKA_SSL_CA_LOCATION"):
        check_access(load_settings(env).kafka_common(), timeout_s=30)


def test_missing_client_certificate_names_the_certificate_setting(broker: SecureBroker) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker.ssl, "KAFKA_SECURITY_PROTOCOL": "SSL",
           "KAFKA_SSL_CA_LOCATION": str(broker.ca)}
    with pytest.raises(KafkaAuthError, match="KAFKA_SSL_CERTIFICATE_LOCATION"):
        check_access(load_settings(env).kafka_common(), timeout_s=30)


def _cli(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    full_env = {**os.environ, **env, "SCHEMA_REGISTRY_URL": "", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "microexec.cli", *args], env=full_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=90)
    return proc, time.monotonic() - started


@pytest.mark.parametrize("command", [["run", "state"], ["topics", "create"]])
def test_commands_with_a_wrong_password_exit_naming_the_setting_without_the_secret(broker: SecureBroker,
                                                                                   command: list[str]) -> None:
    """As an operator starts them: exit code 2 within seconds, not a retry loop or a metadata timeout."""
    proc, elapsed = _cli(command, _sasl_env(broker.sasl_plaintext, "SASL_PLAINTEXT", WRONG_PASSWORD))
    print(f"`microexec {' '.join(command)}` with a wrong password exited {proc.returncode} after {elapsed:.1f}s")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "KAFKA_SASL_PASSWORD" in proc.stderr and elapsed < 30
    assert WRONG_PASSWORD not in proc.stdout + proc.stderr


def test_topics_create_over_sasl_ssl(broker: SecureBroker) -> None:
    env = {**_sasl_env(broker.sasl_ssl, "SASL_SSL"), "KAFKA_SSL_CA_LOCATION": str(broker.ca),
           "MICROEXEC_PARTITIONS": "1"}
    proc, _ = _cli(["topics", "create"], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    topics = AdminClient(load_settings(env).kafka_common()).list_topics(timeout=15).topics
    assert "torghut.microstructure.state.v1" in topics and "torghut.execution.advice.v1" in topics


def test_torghut_subscriber_refused_login_is_a_clear_start_up_error(broker: SecureBroker) -> None:
    """Torghut builds the client at start-up: a wrong password must surface there, named, within seconds."""
    from torghut_client import AdviceBook, AdviceSubscriber

    env = _sasl_env(broker.sasl_plaintext, "SASL_PLAINTEXT", WRONG_PASSWORD)
    subscriber = AdviceSubscriber.from_env(AdviceBook(), env)
    started = time.monotonic()
    try:
        with pytest.raises(KafkaAuthError, match="KAFKA_SASL_PASSWORD"):
            subscriber.start()
    finally:
        subscriber.close()
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def registry_https(kafka_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from tests.support.secure_broker import make_certificates

    certs = make_certificates(tmp_path_factory.mktemp("registry-certs"))
    with tls_basic_auth_proxy(kafka_settings.schema_registry_url, certs["server"], REGISTRY_USER_INFO) as url:
        yield url, certs["ca"]


def test_registry_over_https_with_basic_auth(kafka_settings: Settings, registry_https: tuple[str, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, ca = registry_https
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "SCHEMA_REGISTRY_URL": url,
                              "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": REGISTRY_USER_INFO,
                              "SCHEMA_REGISTRY_SSL_CA_LOCATION": str(ca)})
    subject = f"secured-{uuid.uuid4().hex[:8]}-value"
    registry = Registry(settings.schema_registry_url, conf=settings.registry_client_conf())
    schema_id = registry.register(subject, "execution_advice_v1")
    assert Registry(settings.schema_registry_url, conf=settings.registry_client_conf()).writer_schema(schema_id)
    # Call sites that pass only the URL (runtime, tail) take the same settings from the environment.
    monkeypatch.setenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", REGISTRY_USER_INFO)
    monkeypatch.setenv("SCHEMA_REGISTRY_SSL_CA_LOCATION", str(ca))
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", url)
    assert Registry(url).writer_schema(schema_id)
    # Credentials written into the URL are moved out of it (URLs appear in errors and logs).
    user, password = REGISTRY_USER_INFO.split(":")
    monkeypatch.delenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO")
    in_url = load_settings({"KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
                            "SCHEMA_REGISTRY_URL": url.replace("https://", f"https://{user}:{password}@"),
                            "SCHEMA_REGISTRY_SSL_CA_LOCATION": str(ca)})
    assert in_url.schema_registry_url == url and password not in repr(in_url)
    assert Registry(in_url.schema_registry_url, conf=in_url.registry_client_conf()).writer_schema(schema_id)


def test_registry_wrong_credentials_or_unknown_ca_are_refused_clearly(kafka_settings: Settings,
                                                                      registry_https: tuple[str, Path]) -> None:
    url, ca = registry_https
    wrong = load_settings({"KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "SCHEMA_REGISTRY_URL": url,
                           "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "torghut:" + WRONG_PASSWORD,
                           "SCHEMA_REGISTRY_SSL_CA_LOCATION": str(ca)})
    with pytest.raises(RegistryAuthError, match="SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO") as refused:
        Registry(wrong.schema_registry_url, conf=wrong.registry_client_conf()).register("secured-x-value",
                                                                                        "execution_advice_v1")
    assert WRONG_PASSWORD not in str(refused.value)
    untrusted = Registry(url, attempts=1, conf={"basic.auth.user.info": REGISTRY_USER_INFO})  # system CAs only
    with pytest.raises(RegistryUnavailable, match=r"(?i)certificate[ _]verify[ _]failed"):
        untrusted.register("secured-y-value", "execution_advice_v1")


def test_secured_consumers_ride_out_a_broker_restart(broker: SecureBroker) -> None:
    """A broker killed and restarted cuts TLS handshakes mid-way; librdkafka then even asks "connecting
    to a PLAINTEXT broker listener?". That is no settings error: the consumers must neither raise
    KafkaAuthError nor stop, and read what is written after the restart. (Last in this module: it
    restarts the module's broker.)"""
    envs = {
        "SASL_SSL": {**_sasl_env(broker.sasl_ssl, "SASL_SSL"), "KAFKA_SSL_CA_LOCATION": str(broker.ca)},
        "SSL": {"KAFKA_BOOTSTRAP_SERVERS": broker.ssl, "KAFKA_SECURITY_PROTOCOL": "SSL",
                "KAFKA_SSL_CA_LOCATION": str(broker.ca), "KAFKA_SSL_CERTIFICATE_LOCATION": str(broker.client_cert),
                "KAFKA_SSL_KEY_LOCATION": str(broker.client_key)},
        "SASL_PLAINTEXT": _sasl_env(broker.sasl_plaintext, "SASL_PLAINTEXT"),
    }
    name = f"secured-restart-{uuid.uuid4().hex[:8]}"
    first = load_settings(envs["SASL_PLAINTEXT"])
    ensure_topics(AdminClient(first.kafka_common()), [(name, 1, False)], 1)
    consumers = {}
    for protocol, env in envs.items():
        consumer = Consumer({**load_settings(env).kafka_common(), "group.id": f"restart-{protocol}",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([name])
        consumers[protocol] = consumer
    seen: dict[str, set[bytes]] = {protocol: set() for protocol in consumers}

    def pump(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for protocol, consumer in consumers.items():
                for msg in consumer.consume(10, 0.05):  # a KafkaAuthError here fails the test
                    value = msg.value()
                    if msg.error() is None and value is not None:
                        seen[protocol].add(value)

    try:
        produce_all(first, name, [(b"k", b"before")])
        pump(4)
        started = time.monotonic()
        broker.kill_and_restart(down_s=2.0)
        pump(3)  # reconnect attempts against a broker that is starting
        produce_all(first, name, [(b"k", b"after")])
        deadline = time.monotonic() + 60
        while any(b"after" not in values for values in seen.values()) and time.monotonic() < deadline:
            pump(0.5)
        print(f"secured consumers read again {time.monotonic() - started:.1f}s after the broker was killed")
    finally:
        for consumer in consumers.values():
            consumer.close()
    assert all(values == {b"before", b"after"} for values in seen.values()), seen
