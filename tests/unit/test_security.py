"""Which client errors are a verdict on our settings (raise, naming the variable) and which are a
broker restarting (left to librdkafka's retries). The texts are librdkafka's, as observed against
the test broker of tests/integration/test_secured_connections.py."""

from __future__ import annotations

import pickle

import pytest
from confluent_kafka import KafkaError

from streams.security import KafkaAuthError, Secret, auth_error_callback, split_url_credentials

TRANSIENT = [
    (KafkaError._TRANSPORT, "GroupCoordinator: 127.0.0.1:54389: SSL handshake failed: Disconnected: connection reset "
                            "by peer: connecting to a PLAINTEXT broker listener? (after 1ms in state SSL_HANDSHAKE)"),
    (KafkaError._TRANSPORT, "sasl_ssl://127.0.0.1:54389/bootstrap: Connect to ipv4#127.0.0.1:54389 failed: "
                            "Connection refused (after 0ms in state CONNECT)"),
    (KafkaError._TRANSPORT, "ssl://127.0.0.1:1/bootstrap: Receive failed: error:0A000126:SSL routines::unexpected eof "
                            "while reading (after 5012ms in state UP)"),
    (KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
]
REFUSED = [
    (KafkaError._AUTHENTICATION, "sasl_plaintext://127.0.0.1:1/bootstrap: SASL authentication error: Authentication "
                                 "failed during authentication due to invalid credentials with SASL mechanism "
                                 "SCRAM-SHA-512 (after 313ms in state AUTH_REQ)", "KAFKA_SASL_PASSWORD"),
    (KafkaError._SSL, "sasl_ssl://127.0.0.1:1/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
                      "certificate verify failed: broker certificate could not be verified", "KAFKA_SSL_CA_LOCATION"),
    (KafkaError._TRANSPORT, "ssl://127.0.0.1:1/bootstrap: Receive failed: error:0A000412:SSL routines::ssl/tls alert "
                            "bad certificate: SSL alert number 42 (after 2ms in state APIVERSION_QUERY)",
     "KAFKA_SSL_CERTIFICATE_LOCATION"),
]


@pytest.mark.parametrize(("code", "text"), TRANSIENT)
def test_a_restarting_broker_is_not_a_settings_error(code: int, text: str) -> None:
    auth_error_callback("SASL_SSL", "alice")(KafkaError(code, text))  # returns: librdkafka retries


@pytest.mark.parametrize(("code", "text", "variable"), REFUSED)
def test_refused_credentials_or_certificates_raise_naming_the_variable(code: int, text: str, variable: str) -> None:
    with pytest.raises(KafkaAuthError, match=variable):
        auth_error_callback("SASL_SSL", "alice")(KafkaError(code, text))


def test_secret_masks_itself_everywhere_but_reveal() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]} {({'p': secret})}"
    assert secret.reveal() == "hunter2" and secret == Secret("hunter2") and secret != Secret("x")
    assert pickle.loads(pickle.dumps(secret)).reveal() == "hunter2"
    assert not Secret("") and str(Secret("")) == ""


def test_url_credentials_are_split_off() -> None:
    url, info = split_url_credentials("https://bob:p%40ss@reg.example:8443/apis/ccompat/v7")
    assert url == "https://reg.example:8443/apis/ccompat/v7" and info.reveal() == "bob:p@ss"
    assert split_url_credentials("http://reg:8081")[0] == "http://reg:8081"
    assert not split_url_credentials("http://reg:8081")[1]


def test_registry_errors_never_show_credentials_from_the_url() -> None:
    from streams.serde import Registry, RegistryUnavailable

    registry = Registry("http://bob:hunter2@127.0.0.1:9/apis/ccompat/v7", attempts=1, conf={})  # nothing listens
    assert registry.url == "http://127.0.0.1:9/apis/ccompat/v7"
    with pytest.raises(RegistryUnavailable) as failure:
        registry.writer_schema(1)
    assert "hunter2" not in str(failure.value)
