"""testcontainers path for machines with a Docker engine: apache/kafka (KRaft) and Karapace, as Torghut runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COMPOSE_DIR = Path(__file__).resolve().parents[2]


@contextmanager
def compose_stack() -> Iterator[tuple[str, str]]:
    from testcontainers.compose import DockerCompose

    with DockerCompose(str(COMPOSE_DIR), compose_file_name="docker-compose.yml",
                       services=["kafka", "schema-registry"], wait=True) as compose:
        yield "127.0.0.1:9092", "http://127.0.0.1:8081"
        compose.stop()
