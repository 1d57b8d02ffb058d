"""Settings from environment variables, validated once at start-up.

Why fail early and by name: a consumer that starts with a mistyped interval or bootstrap address
fails minutes later with a librdkafka error nobody can trace back to the variable. Every variable
is in the README's table; ``SETTINGS_TABLE`` is the single source of that table. Passwords and
registry credentials are ``Secret`` values (streams/security.py): they never print.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.security import Secret, auth_error_callback, split_url_credentials


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Var:
    name: str
    default: str | None
    doc: str


SETTINGS_TABLE: tuple[Var, ...] = (
    Var("KAFKA_BOOTSTRAP_SERVERS", None, "Broker list host:port[,host:port]. Required by every Kafka command."),
    Var("SCHEMA_REGISTRY_URL", "", "Confluent-API registry URL; empty means bare Avro (the upstream's fallback)."),
    Var("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL."),
    Var("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "SASL mechanism when a SASL protocol is used: SCRAM-SHA-512 "
        "(the upstream brokers'), SCRAM-SHA-256 or PLAIN; OAUTHBEARER is refused (no token provider)."),
    Var("KAFKA_SASL_USERNAME", "", "SASL user (required with SASL protocols)."),
    Var("KAFKA_SASL_PASSWORD", "", "SASL password (required with SASL protocols); never printed."),
    Var("MICROEXEC_INSTANCE_ID", "", "Stable instance id: transactional.id and static group membership; "
        "defaults to the host name. Two processes of one consumer on one host need their own (the second "
        "fences the first, which exits 3 naming this variable)."),
    Var("MICROEXEC_COMMIT_INTERVAL_MS", "100", "Longest time between transaction commits (ms), 10..60000."),
    Var("MICROEXEC_COMMIT_MIN_INTERVAL_MS", "10", "Shortest time between commits once caught up (ms), 0..60000: "
        "lower is lower latency, more commits."),
    Var("MICROEXEC_BATCH_SIZE", "500", "Records fetched per consume call, 1..100000."),
    Var("MICROEXEC_GC_GEN0_THRESHOLD", "50000", "Python GC generation-0 threshold set by a running consumer, which "
        "also freezes its start-up objects; 0 leaves the interpreter's GC as it is."),
    Var("MICROEXEC_MAX_RECORD_BYTES", "900000", "Input records larger than this go to the DLQ as oversize_record."),
    Var("MICROEXEC_METRICS_PORT", "0", "Prometheus /metrics port; 0 disables the endpoint."),
    Var("MICROEXEC_PARTITIONS", "6", "Partitions for topics created by `microexec topics create`."),
    Var("MICROEXEC_REPLICATION_FACTOR", "1", "Replication factor for created topics."),
    Var("MICROEXEC_TOPIC_RETENTION_MS", "-1", "Time retention (ms) of the delete-policy topics `microexec topics "
        "create` makes: -1 keeps records (the default) or at least 3600000. Why -1: records carry their event time "
        "as Kafka timestamp, so a replay of history is older than any finite retention and the broker deletes it "
        "at its next check (within 5 minutes), before a rewind can read it; bound disk by size instead."),
    Var("MICROEXEC_TOPIC_RETENTION_BYTES", "-1", "Size retention per partition (bytes) of those topics: -1 "
        "(unbounded, the default) or at least 1048576; the oldest segments go first."),
    Var("MICROEXEC_SESSION_TIMEOUT_MS", "10000", "Consumer group session timeout (ms)."),
    Var("MICROEXEC_LATENESS_MS", "50", "Event-time lateness bound (ms) of a consumer's dense inputs (quotes, "
        "trades), 0..60000: the event-time merge holds a record until the dense streams are this far past it, "
        "and adds up to this much latency; a record arriving later is processed at once and counted as late "
        "(docs/ordering.md)."),
    Var("MICROEXEC_SPARSE_LATENESS_MS", "", "Lateness bound (ms) for sparse or optional inputs (trade-updates, L2 "
        "book, shortfall), 0..60000; empty means the consumer's own default (the advisor: 0, since shortfall "
        "tables arrive seconds after their event time anyway), else MICROEXEC_LATENESS_MS."),
    Var("MICROEXEC_MERGE_IDLE_MS", "500", "Wall-clock limit (ms), 1..600000, on waiting for an input that has "
        "records on their way but does not deliver them, counted only while the consumer is caught up."),
    Var("MICROEXEC_MERGE_MAX_BUFFERED", "100000", "Records of one input partition the event-time merge may hold, "
        "1000..10000000; a fuller one is paused until half of them are processed (bounds memory)."),
    Var("MICROEXEC_STALL_TIMEOUT_S", "60", "Longest time (s), 10..3600, a broker call on the commit, abort, "
        "init or restore path may keep failing or waiting, and no broker may be reachable, before the consumer "
        "exits with code 3 for its supervisor to restart it; a loop without progress for twice this is ended by "
        "the watchdog (code 4) and fails /healthz (docs/liveness.md)."),
    Var("MICROEXEC_SHUTDOWN_GRACE_S", "20", "Seconds, 1..600, a consumer has after SIGTERM/SIGINT to commit "
        "and close; past it, or on a second signal, it exits with code 4 (the open transaction is aborted by "
        "the next start). Keep it below the orchestrator's kill timeout (Kubernetes: 30 s)."),
    Var("MICROEXEC_HOME", "~/.cache/microexec", "Cache for the local stack: jars, data, logs, pids."),
    Var("EXECUTION_ADVISOR_ENABLED", "true", "false stops advice; state and TCA telemetry go on."),
)
# TLS and registry credentials: documented in docs/security.md (with how the upstream's brokers are reached).
SECURITY_TABLE: tuple[Var, ...] = (
    Var("KAFKA_SSL_CA_LOCATION", "", "PEM file of the CA that signed the broker's certificate (SSL, SASL_SSL); "
        "empty uses the system's CAs."),
    Var("KAFKA_SSL_CERTIFICATE_LOCATION", "", "Client certificate (PEM) for brokers that require TLS client "
        "authentication; needs KAFKA_SSL_KEY_LOCATION."),
    Var("KAFKA_SSL_KEY_LOCATION", "", "Private key (PEM) of the client certificate."),
    Var("KAFKA_SSL_KEY_PASSWORD", "", "Password of an encrypted KAFKA_SSL_KEY_LOCATION; never printed."),
    Var("KAFKA_SSL_ENDPOINT_IDENTIFICATION", "https", "https checks the broker's host name against its "
        "certificate; none turns the check off (only for brokers addressed by a name not in their certificate)."),
    Var("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "", "user:password for a registry behind HTTP basic auth "
        "(credentials in SCHEMA_REGISTRY_URL work too and are moved here); never printed."),
    Var("SCHEMA_REGISTRY_SSL_CA_LOCATION", "", "PEM file of the CA that signed an https registry's certificate; "
        "empty uses the system's CAs."),
    Var("SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION", "", "Client certificate (PEM) for a registry that requires "
        "TLS client authentication; needs SCHEMA_REGISTRY_SSL_KEY_LOCATION."),
    Var("SCHEMA_REGISTRY_SSL_KEY_LOCATION", "", "Private key (PEM) of the registry client certificate."),
)
_DEFAULTS = {var.name: var.default for var in (*SETTINGS_TABLE, *SECURITY_TABLE)}


def _get(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or value == "":
        default = _DEFAULTS.get(name)
        return "" if default is None else default
    return value.strip()


def _int(env: Mapping[str, str], name: str, lo: int, hi: int) -> int:
    raw = _get(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is out of range [{lo}, {hi}]")
    return value


def parse_bool(env: Mapping[str, str], name: str) -> bool:
    raw = _get(env, name).lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


def _bootstrap(env: Mapping[str, str]) -> str:
    raw = _get(env, "KAFKA_BOOTSTRAP_SERVERS")
    if not raw:
        raise SettingsError("KAFKA_BOOTSTRAP_SERVERS is not set (run `microexec infra up` for a local stack)")
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"KAFKA_BOOTSTRAP_SERVERS has a bad entry {item!r} (want host:port)")
    return raw


def _readable_file(env: Mapping[str, str], name: str) -> str:
    path = _get(env, name)
    if path and not Path(path).is_file():
        raise SettingsError(f"{name}={path!r} is not a readable file")
    if path and not os.access(path, os.R_OK):
        raise SettingsError(f"{name}={path!r} is not readable by this process")
    return path


@dataclass(frozen=True)
class TlsFiles:
    """CA, client certificate and key (PEM paths; empty = not used)."""

    ca_location: str = ""
    certificate_location: str = ""
    key_location: str = ""
    key_password: Secret = field(default_factory=lambda: Secret(""))


def _tls_files(env: Mapping[str, str], prefix: str, *, with_key_password: bool) -> TlsFiles:
    cert = _readable_file(env, f"{prefix}_SSL_CERTIFICATE_LOCATION")
    key = _readable_file(env, f"{prefix}_SSL_KEY_LOCATION")
    if bool(cert) != bool(key):
        raise SettingsError(f"{prefix}_SSL_CERTIFICATE_LOCATION and {prefix}_SSL_KEY_LOCATION go together: "
                            "a client certificate needs its key")
    password = Secret(_get(env, f"{prefix}_SSL_KEY_PASSWORD")) if with_key_password else Secret("")
    return TlsFiles(_readable_file(env, f"{prefix}_SSL_CA_LOCATION"), cert, key, password)


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str
    schema_registry_url: str
    security_protocol: str
    sasl_mechanism: str
    sasl_username: str
    sasl_password: Secret
    instance_id: str
    commit_interval_ms: int
    commit_min_interval_ms: int
    batch_size: int
    gc_gen0_threshold: int
    max_record_bytes: int
    metrics_port: int
    partitions: int
    replication_factor: int
    session_timeout_ms: int
    kafka_tls: TlsFiles = TlsFiles()
    ssl_endpoint_identification: bool = True
    schema_registry_user_info: Secret = field(default_factory=lambda: Secret(""))
    schema_registry_tls: TlsFiles = TlsFiles()
    lateness_ms: int = 50
    sparse_lateness_ms: int | None = None  # None: the processor's default, else lateness_ms
    merge_idle_ms: int = 500
    merge_max_buffered: int = 100_000
    stall_timeout_s: int = 60
    shutdown_grace_s: int = 20
    topic_retention_ms: int = -1
    topic_retention_bytes: int = -1

    def kafka_common(self) -> dict[str, Any]:
        """librdkafka settings shared by every client (the only place secrets are revealed).

        With a secured protocol the config carries an ``error_cb`` that turns refused credentials or
        a failed TLS handshake into ``KafkaAuthError`` naming the variables (librdkafka alone would
        retry for ever); a caller's own ``error_cb`` replaces it."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            conf.update({
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.username": self.sasl_username,
                "sasl.password": self.sasl_password.reveal(),
            })
        if self.security_protocol.endswith("SSL"):
            tls = self.kafka_tls
            optional = {"ssl.ca.location": tls.ca_location, "ssl.certificate.location": tls.certificate_location,
                        "ssl.key.location": tls.key_location, "ssl.key.password": tls.key_password.reveal()}
            conf.update({key: value for key, value in optional.items() if value})
            conf["ssl.endpoint.identification.algorithm"] = "https" if self.ssl_endpoint_identification else "none"
        if self.security_protocol != "PLAINTEXT":
            conf["error_cb"] = auth_error_callback(self.security_protocol, self.sasl_username)
        return conf

    def registry_client_conf(self) -> dict[str, Any]:
        """Extra SchemaRegistryClient settings: basic auth and TLS (empty for a plain local registry)."""
        return registry_client_conf(self.schema_registry_user_info, self.schema_registry_tls)


def registry_client_conf(user_info: Secret, tls: TlsFiles) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    if user_info:
        conf["basic.auth.user.info"] = user_info.reveal()
    optional = {"ssl.ca.location": tls.ca_location, "ssl.certificate.location": tls.certificate_location,
                "ssl.key.location": tls.key_location}
    conf.update({key: value for key, value in optional.items() if value})
    return conf


def load_registry_security(env: Mapping[str, str] | None = None) -> tuple[str, Secret, TlsFiles]:
    """(registry URL without credentials, basic-auth user info, TLS files) from the environment.

    Credentials written into SCHEMA_REGISTRY_URL (``https://user:pass@host``) are moved out of it:
    the URL appears in logs and error messages, the user info never does."""
    env = os.environ if env is None else env
    registry = _get(env, "SCHEMA_REGISTRY_URL")
    if registry and not registry.startswith(("http://", "https://")):
        raise SettingsError(f"SCHEMA_REGISTRY_URL={split_url_credentials(registry)[0]!r} must start with "
                            "http:// or https://")
    url, url_user_info = split_url_credentials(registry)
    user_info = Secret(_get(env, "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"))
    if user_info and url_user_info:
        raise SettingsError("SCHEMA_REGISTRY_URL carries credentials and SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO is "
                            "set too: keep one")
    user_info = user_info or url_user_info
    if user_info and ":" not in user_info.reveal():
        raise SettingsError("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password")
    tls = _tls_files(env, "SCHEMA_REGISTRY", with_key_password=False)
    if url.startswith("http://") and (tls.ca_location or tls.certificate_location):
        raise SettingsError("SCHEMA_REGISTRY_SSL_* files are set but SCHEMA_REGISTRY_URL is http://, not https://")
    return url.rstrip("/"), user_info, tls


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    protocol = _get(env, "KAFKA_SECURITY_PROTOCOL").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of "
                            "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
    mechanism = _get(env, "KAFKA_SASL_MECHANISM").upper()
    username, password = _get(env, "KAFKA_SASL_USERNAME"), Secret(_get(env, "KAFKA_SASL_PASSWORD"))
    if protocol.startswith("SASL"):
        if mechanism == "OAUTHBEARER":
            raise SettingsError("KAFKA_SASL_MECHANISM=OAUTHBEARER is not supported: microexec has no OAuth token "
                                "provider, so the broker would refuse every login; use SCRAM-SHA-512 (as the upstream "
                                "brokers do) with KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD")
        if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise SettingsError(f"KAFKA_SASL_MECHANISM={mechanism!r} is not one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN")
        if not username or not password:
            raise SettingsError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with "
                                f"KAFKA_SECURITY_PROTOCOL={protocol}")
    kafka_tls = _tls_files(env, "KAFKA", with_key_password=True)
    if not protocol.endswith("SSL") and (kafka_tls.ca_location or kafka_tls.certificate_location):
        raise SettingsError(f"KAFKA_SSL_* files are set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS "
                            "(SSL or SASL_SSL does)")
    identification = _get(env, "KAFKA_SSL_ENDPOINT_IDENTIFICATION").lower()
    if identification not in ("https", "none"):
        raise SettingsError(f"KAFKA_SSL_ENDPOINT_IDENTIFICATION={identification!r} is not https or none")
    registry, registry_user_info, registry_tls = load_registry_security(env)
    instance = _get(env, "MICROEXEC_INSTANCE_ID") or socket.gethostname()
    if not instance.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SettingsError(f"MICROEXEC_INSTANCE_ID={instance!r} may hold only letters, digits, '-', '_', '.'")
    lateness_ms = _int(env, "MICROEXEC_LATENESS_MS", 0, 60_000)
    sparse_lateness_ms = (_int(env, "MICROEXEC_SPARSE_LATENESS_MS", 0, 60_000)
                          if _get(env, "MICROEXEC_SPARSE_LATENESS_MS") else None)
    return Settings(
        bootstrap_servers=_bootstrap(env),
        schema_registry_url=registry,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=username,
        sasl_password=password,
        instance_id=instance,
        commit_interval_ms=_int(env, "MICROEXEC_COMMIT_INTERVAL_MS", 10, 60_000),
        commit_min_interval_ms=_int(env, "MICROEXEC_COMMIT_MIN_INTERVAL_MS", 0, 60_000),
        batch_size=_int(env, "MICROEXEC_BATCH_SIZE", 1, 100_000),
        gc_gen0_threshold=_int(env, "MICROEXEC_GC_GEN0_THRESHOLD", 0, 10_000_000),
        max_record_bytes=_int(env, "MICROEXEC_MAX_RECORD_BYTES", 1_024, 100_000_000),
        metrics_port=_int(env, "MICROEXEC_METRICS_PORT", 0, 65_535),
        partitions=_int(env, "MICROEXEC_PARTITIONS", 1, 10_000),
        replication_factor=_int(env, "MICROEXEC_REPLICATION_FACTOR", 1, 32),
        session_timeout_ms=_int(env, "MICROEXEC_SESSION_TIMEOUT_MS", 6_000, 300_000),
        kafka_tls=kafka_tls,
        ssl_endpoint_identification=identification == "https",
        schema_registry_user_info=registry_user_info,
        schema_registry_tls=registry_tls,
        lateness_ms=lateness_ms,
        sparse_lateness_ms=sparse_lateness_ms,
        merge_idle_ms=_int(env, "MICROEXEC_MERGE_IDLE_MS", 1, 600_000),
        merge_max_buffered=_int(env, "MICROEXEC_MERGE_MAX_BUFFERED", 1_000, 10_000_000),
        stall_timeout_s=_int(env, "MICROEXEC_STALL_TIMEOUT_S", 10, 3_600),
        shutdown_grace_s=_int(env, "MICROEXEC_SHUTDOWN_GRACE_S", 1, 600),
        topic_retention_ms=_unbounded_or_at_least(env, "MICROEXEC_TOPIC_RETENTION_MS", 3_600_000),
        topic_retention_bytes=_unbounded_or_at_least(env, "MICROEXEC_TOPIC_RETENTION_BYTES", 1_048_576),
    )


def _unbounded_or_at_least(env: Mapping[str, str], name: str, lo: int) -> int:
    """-1 (Kafka's "no limit") or a limit of at least ``lo``: a smaller one deletes a feed under its consumers."""
    value = _int(env, name, -1, 2**63 - 1)
    if value != -1 and value < lo:
        raise SettingsError(f"{name}={value} must be -1 (no limit) or at least {lo}")
    return value


def advisor_enabled(env: Mapping[str, str] | None = None) -> bool:
    return parse_bool(os.environ if env is None else env, "EXECUTION_ADVISOR_ENABLED")
