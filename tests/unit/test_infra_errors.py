"""The local stack's start-up errors say what is wrong, without starting anything."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from streams.infra import maven, stack
from streams.infra.java import JavaNotFound, find_java


def test_port_taken_is_reported_with_the_variable_to_change(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        cfg = stack.StackConfig(home=tmp_path, kafka_port=port, controller_port=port + 1, registry_port=port + 2)
        with pytest.raises(stack.InfraError, match=f"port 127.0.0.1:{port} is taken.*MICROEXEC_KAFKA_PORT"):
            stack.up(cfg, timeout=5)


def test_missing_java_version_is_explained() -> None:
    with pytest.raises(JavaNotFound, match="need Java 99"):
        find_java(99)


def test_download_failure_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROEXEC_MAVEN_REPO", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(maven.DownloadError, match=re.escape("127.0.0.1:9/org/apache/kafka/kafka-clients")):
        maven.fetch("org.apache.kafka", "kafka-clients", "4.3.1", tmp_path, attempts=1)


def test_bad_port_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROEXEC_KAFKA_PORT", "ninety")
    with pytest.raises(stack.InfraError, match="MICROEXEC_KAFKA_PORT"):
        stack.StackConfig.from_env()


def test_lock_file_pins_kafka_and_a_log4j2_backend() -> None:
    coords = maven.read_lock(stack.LOCK_FILE)
    names = {(g, a) for g, a, _ in coords}
    assert ("org.apache.kafka", "kafka_2.13") in names and ("org.apache.logging.log4j", "log4j-core") in names
    assert all(v for _, _, v in coords)


def test_down_never_touches_a_process_outside_the_stack(tmp_path: Path) -> None:
    cfg = stack.StackConfig(home=tmp_path)
    cfg.run_dir.mkdir(parents=True)
    cfg.pid_file("kafka").write_text("1")  # pid 1 is alive but not ours
    assert stack.running_pid(cfg, "kafka") is None
    assert stack.down(cfg) == []


def test_kraft_cluster_ids_never_start_with_a_dash() -> None:
    """One random id in 64 did, and the storage tool read it as an option: CI failed to start Kafka."""
    from streams.infra.stack import kraft_cluster_id

    ids = [kraft_cluster_id() for _ in range(5_000)]  # ~78 of them would start with '-' unguarded
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
