"""`microexec topics create` keeps the history a feed replays (real broker).

Why a test: records carry their event time as Kafka timestamp, and Kafka's time retention reads those
stamps; with the broker's default of 7 days, a dump replayed from 2024 was gone from every partition
ten minutes later (measured on the local stack), so a rewind found nothing. The created delete-policy
topics must say retention.ms=-1 on the broker, and the compacted ones stay compact-only."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.settings import load_settings
from torghut_domain.topics import CATALOG

pytestmark = pytest.mark.integration


def _configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names])
    return {res.name: {k: v.value for k, v in f.result().items()} for res, f in futures.items()}


def test_created_topics_keep_replayed_history(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {f"MICROEXEC_TOPIC_{spec.key.upper()}": f"ret-{spec.key}-{tag}" for spec in CATALOG}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    done = subprocess.run([sys.executable, "-m", "microexec.cli", "topics", "create"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    settings = load_settings()
    admin = AdminClient(settings.kafka_common())
    configs = _configs(admin, [spec.name for spec in CATALOG])
    for spec in CATALOG:
        conf = configs[spec.name]
        if spec.compacted:
            assert conf["cleanup.policy"] == "compact", spec.name
        else:
            assert conf["cleanup.policy"] == "delete", spec.name
            assert (conf["retention.ms"], conf["retention.bytes"]) == ("-1", "-1"), spec.name
    admin.delete_topics([spec.name for spec in CATALOG])
