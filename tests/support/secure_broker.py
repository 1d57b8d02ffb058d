"""A private KRaft broker with SASL/SCRAM and TLS listeners, as Torghut's production brokers have.

Why a dedicated broker rather than listeners on the shared stack: the shared one is used by every
other test and must stay PLAINTEXT; this one lives in a temporary home on free ports, shares only
the downloaded jars, and its SCRAM users are written by Kafka's storage tool at format time
(``--add-scram``), exactly as an operator provisions them.

Listeners: SASL_PLAINTEXT, SASL_SSL (SCRAM-SHA-512), SSL with required client certificates, and a
PLAINTEXT one used only to tell when the broker is up. Certificates come from a throw-away CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streams.infra import stack
from streams.infra.java import find_java

SCRAM_USER = "alice"
SCRAM_PASSWORD = "alice-Pa55-not-for-logs"  # distinctive, so a leak into logs or messages is found by search


@dataclass(frozen=True)
class SecureBroker:
    home: Path
    sasl_plaintext: str
    sasl_ssl: str
    ssl: str
    plaintext: str
    ca: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that did not sign the broker's certificate
    stack_config: stack.StackConfig
    argv: tuple[str, ...]

    def kill_and_restart(self, down_s: float = 2.0, timeout: float = 120.0) -> None:
        """SIGKILL the broker, leave it down ``down_s``, start it again on the same ports and data."""
        pid = stack.running_pid(self.stack_config, "kafka")
        assert pid is not None, "the secure broker is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while stack.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(down_s)
        stack.spawn(self.stack_config, "kafka", list(self.argv), self.home / "kafka")
        stack.wait_ready(self.stack_config, "kafka", lambda c: _answers(c.bootstrap), timeout)


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey,
          *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(directory: Path) -> dict[str, Path]:
    """CA, server (key + chain in one PEM, as Kafka's PEM keystore wants), client, and a foreign CA."""
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert("microexec test CA", ca_key, _name("microexec test CA"), ca_key, ca=True)
    paths = {name: directory / f"{name}.pem" for name in ("ca", "server", "client", "client-key", "other-ca")}
    paths["ca"].write_bytes(ca_cert.public_bytes(pem))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _cert("localhost", server_key, ca_cert.subject, ca_key, ca=False)
    paths["server"].write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
                                + server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    client_key = ec.generate_private_key(ec.SECP256R1())
    paths["client"].write_bytes(_cert("microexec client", client_key, ca_cert.subject, ca_key,
                                      ca=False).public_bytes(pem))
    _write_key(client_key, paths["client-key"])
    other_key = ec.generate_private_key(ec.SECP256R1())
    paths["other-ca"].write_bytes(_cert("someone else's CA", other_key, _name("someone else's CA"), other_key,
                                        ca=True).public_bytes(pem))
    return paths


def _properties(data: Path, certs: dict[str, Path], ports: dict[str, int]) -> str:
    h = "127.0.0.1"
    names = ("INTERNAL", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return "\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.voters=1@{h}:{ports['CONTROLLER']}",
        "listeners=" + ",".join(f"{n}://{h}:{ports[n]}" for n in (*names, "CONTROLLER")),
        "advertised.listeners=" + ",".join(f"{n}://{h}:{ports[n]}" for n in names),
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,"
        "SSL:SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=INTERNAL",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PEM", f"ssl.keystore.location={certs['server']}",
        "ssl.truststore.type=PEM", f"ssl.truststore.location={certs['ca']}",
        "listener.name.ssl.ssl.client.auth=required",
        f"log.dirs={data}", "num.partitions=2", "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=2",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=2", "group.initial.rebalance.delay.ms=0",
        "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1", "",
    ])


def _answers(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
    except Exception:
        return False
    return True


@contextmanager
def secure_broker(home: Path, timeout: float = 180.0) -> Iterator[SecureBroker]:
    """Start the broker, yield its addresses and certificate files, stop it (always)."""
    shared = stack.StackConfig.from_env()
    ports = dict(zip(("INTERNAL", "SASL_PLAINTEXT", "SASL_SSL", "SSL", "CONTROLLER"), free_ports(5), strict=True))
    cfg = stack.StackConfig(home=home, kafka_port=ports["INTERNAL"], controller_port=ports["CONTROLLER"],
                            cache=shared.downloads)
    certs = make_certificates(home / "certs")
    java, _ = find_java(17)
    libs = stack.fetch_kafka(cfg)
    kafka_dir = home / "kafka"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_dir / "server.properties"
    props.write_text(_properties(cfg.kafka_data, certs, ports))
    (kafka_dir / "log4j2.yaml").write_text(stack.LOG4J2_YAML)
    classpath = f"{libs}/*"
    out = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", stack.kraft_cluster_id(),
                          "-c", str(props), "--add-scram", f"SCRAM-SHA-512=[name={SCRAM_USER},"
                          f"password={SCRAM_PASSWORD}]"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"formatting the secure broker failed:\n{out.stdout}\n{out.stderr}"
    argv = [java, "-Xms128m", "-Xmx512m", f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2.yaml'}",
            f"-Dmicroexec.home={home}", "-cp", classpath, "kafka.Kafka", str(props)]
    try:
        stack.spawn(cfg, "kafka", argv, kafka_dir)
        stack.wait_ready(cfg, "kafka", lambda c: _answers(c.bootstrap), timeout)
        yield SecureBroker(home=home, sasl_plaintext=f"127.0.0.1:{ports['SASL_PLAINTEXT']}",
                           sasl_ssl=f"127.0.0.1:{ports['SASL_SSL']}", ssl=f"127.0.0.1:{ports['SSL']}",
                           plaintext=cfg.bootstrap, ca=certs["ca"], client_cert=certs["client"],
                           client_key=certs["client-key"], other_ca=certs["other-ca"], stack_config=cfg,
                           argv=tuple(argv))
    finally:
        stack.stop_service(cfg, "kafka")


def private_stack_config(home: Path) -> stack.StackConfig:
    """A stack of its own in ``home`` on free loopback ports, sharing only the downloaded jars with the
    stack the rest of the suite uses (which a test that restarts, pauses or kills a broker must never
    touch)."""
    kafka_port, controller_port, registry_port = free_ports(3)
    return stack.StackConfig(home=home, kafka_port=kafka_port, controller_port=controller_port,
                             registry_port=registry_port, cache=stack.StackConfig.from_env().downloads)


@contextmanager
def running_private_stack(home: Path, timeout: float = 240.0) -> Iterator[stack.StackConfig]:
    """A private stack (``private_stack_config``) started for the block and stopped after it, whatever
    the tests did to it (killed, paused or restarted services included: ``stack.down`` finds them)."""
    cfg = private_stack_config(home)
    try:
        stack.up(cfg, timeout=timeout)
        yield cfg
    finally:
        stack.down(cfg)
