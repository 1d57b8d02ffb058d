"""Secrets that never print, and credential failures that name the setting to fix.

Why a wrapper type and not just ``field(repr=False)``: a password travels (settings -> client
config -> error message); ``Secret`` keeps it masked in ``repr``, ``str``, f-strings and logs
wherever it goes, and only ``reveal()`` — called where a client is configured — gives the text.

Why an ``error_cb`` that raises: librdkafka treats rejected SASL credentials or a failed TLS
handshake as transient and retries for ever, so a consumer with a wrong password logs the same
line every second and never exits. Raising from the callback makes the next ``poll``/``consume``/
``flush`` of any client raise ``KafkaAuthError``, which names the variables to check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from confluent_kafka import Consumer, KafkaError, KafkaException

log = logging.getLogger("microexec.security")


class Secret:
    """A secret string: masked when printed, compared by value, revealed only on purpose."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "***" if self._value else ""

    def __reduce__(self) -> Any:  # pickling (multiprocessing) keeps working; printing still masks
        return (Secret, (self._value,))


def split_url_credentials(url: str) -> tuple[str, Secret]:
    """``https://user:pass@host/x`` -> (``https://host/x``, Secret("user:pass")); URLs are printed in
    errors and logs, so credentials must not stay in them."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, Secret("")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    user_info = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), Secret(user_info)


class KafkaAuthError(ValueError):
    """The broker refused our credentials or our TLS settings: a configuration error, never retried.

    A ``ValueError`` (like ``SettingsError``) so command-line entry points report it as bad
    configuration and exit instead of restarting into the same refusal."""


_AUTH_CODES = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
# What a connection cut by a restarting broker says: never a verdict on our settings. A handshake
# interrupted that way even carries librdkafka's hint "connecting to a PLAINTEXT broker listener?".
_TRANSIENT = ("Disconnected", "connection reset", "Connection refused", "timed out", "unexpected eof")
# TLS failures that only our settings can cause: an untrusted or mismatched broker certificate, or
# the broker refusing our client certificate (a TLS alert, reported as a transport error).
_TLS_REFUSALS = ("certificate verify failed", "alert bad certificate", "alert certificate required",
                 "alert unknown ca", "alert certificate unknown", "alert certificate expired",
                 "alert certificate revoked", "alert access denied")


def _explain(err: KafkaError, protocol: str, username: str) -> str | None:
    """The message for an error only our settings explain; None for everything transient."""
    code, text = err.code(), err.str()
    if any(marker.lower() in text.lower() for marker in _TRANSIENT):
        return None
    if code in _AUTH_CODES:
        return (f"Kafka refused the SASL login of KAFKA_SASL_USERNAME={username!r}: check KAFKA_SASL_USERNAME, "
                f"KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM (broker said: {text})")
    if any(marker in text for marker in _TLS_REFUSALS):
        return (f"TLS with the broker failed (KAFKA_SECURITY_PROTOCOL={protocol}): check KAFKA_SSL_CA_LOCATION "
                f"(the CA that signed the broker's certificate), KAFKA_SSL_CERTIFICATE_LOCATION and "
                f"KAFKA_SSL_KEY_LOCATION (client certificate), KAFKA_SSL_ENDPOINT_IDENTIFICATION "
                f"(broker said: {text})")
    return None


def auth_error_callback(protocol: str, username: str) -> Any:
    """An ``error_cb`` for librdkafka clients: credential and TLS failures raise ``KafkaAuthError``;
    every other error (a broker restarting, a network blip) is left to librdkafka's retries."""

    logged: set[str] = set()

    def on_error(err: KafkaError) -> None:
        message = _explain(err, protocol, username)
        if message is not None:
            if message not in logged:  # librdkafka reports each reconnect: say it once per client
                logged.add(message)
                log.error("%s", message)
            raise KafkaAuthError(message)
        # librdkafka's own log already prints transport errors; only debug here, or every
        # reconnect attempt during a broker restart would be logged twice.
        log.debug("kafka client error: %s", err.str())

    return on_error


class KafkaUnreachable(RuntimeError):
    """No broker answered within the bounded wait (address, port or network: not credentials)."""


def wait_for_metadata(client: Any, bootstrap: str, timeout_s: float = 15.0) -> Any:
    """Cluster metadata from ``client`` (a Consumer or Producer), polling meanwhile.

    Why poll: ``list_topics`` alone never serves ``error_cb``, so refused credentials look like a
    plain timeout; polling between short metadata requests lets ``KafkaAuthError`` surface within
    about a second. Every wait is bounded by ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        client.poll(0.1)
        try:
            return client.list_topics(timeout=0.5)
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise KafkaUnreachable(f"no broker at KAFKA_BOOTSTRAP_SERVERS={bootstrap} answered within "
                                       f"{timeout_s:.0f}s ({exc.args[0].str()}); check the address and "
                                       "KAFKA_SECURITY_PROTOCOL") from None


def check_access(kafka_conf: Mapping[str, Any], timeout_s: float = 15.0) -> None:
    """Connect and authenticate once before a long-running client starts, so a wrong password or CA
    is a clear start-up error (``KafkaAuthError`` naming the variables) rather than a hang."""
    consumer = Consumer({**kafka_conf, "group.id": "microexec-access-check", "enable.auto.commit": False})
    try:
        wait_for_metadata(consumer, str(kafka_conf.get("bootstrap.servers")), timeout_s)
    finally:
        consumer.close()
