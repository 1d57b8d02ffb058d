"""Where the integration tests get their real broker and registry.

Order (DESIGN.md): ``KAFKA_BOOTSTRAP_SERVERS`` (+ ``SCHEMA_REGISTRY_URL``) from the environment;
else Docker through testcontainers where an engine answers; else the local stack
(`microexec infra up`). A test that needs the broker never skips: if none can be had, it errors.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from streams.settings import Settings, load_settings


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_settings() -> Iterator[Settings]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        if not os.environ.get("SCHEMA_REGISTRY_URL"):
            pytest.fail("KAFKA_BOOTSTRAP_SERVERS is set but SCHEMA_REGISTRY_URL is not: the integration "
                        "tests need both")
        yield load_settings()
        return
    if _docker_answers():
        from tests.support.containers import compose_stack

        with compose_stack() as (bootstrap, registry):
            os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["SCHEMA_REGISTRY_URL"] = bootstrap, registry
            yield load_settings()
        return
    from streams.infra import stack

    cfg = stack.StackConfig.from_env()
    stack.up(cfg)  # raises with the reason: no Java, port taken, download failed
    os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["SCHEMA_REGISTRY_URL"] = cfg.bootstrap, cfg.registry_url
    yield load_settings()


@pytest.fixture
def unique() -> str:
    """A per-test suffix, so tests share a broker without sharing topics or groups."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def fast_settings(kafka_settings: Settings) -> Settings:
    return replace(kafka_settings, commit_interval_ms=50, session_timeout_ms=6000)
