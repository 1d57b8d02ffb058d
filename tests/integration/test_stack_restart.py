"""`microexec infra down` + `up` loses nothing: every Avro topic and changelog decodes afterwards.

Why a private stack: the restart would break every other test using the shared one. This test
starts its own broker and registry in a temporary home on free ports, sharing only the downloaded
jars (fetched by the project's own code if the shared cache lacks them), and stops them at the end.
"""

from __future__ import annotations

import io
import os
import random
import signal
import time
from collections.abc import Iterator

import fastavro
import fastavro.utils
import pytest
from confluent_kafka.schema_registry import Schema

from streams.infra import stack
from streams.serde import AvroDecoder, AvroEncoder, Registry
from streams.settings import Settings, load_settings
from streams.tail import tail
from tests.support.kafka_io import create_topics, produce_all, read_all
from tests.support.secure_broker import running_private_stack
from torghut_domain.topics import AVRO, CATALOG, changelog_topic

pytestmark = pytest.mark.integration

RECORDS_PER_TOPIC = 12


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.StackConfig]:
    with running_private_stack(tmp_path_factory.mktemp("private-stack")) as cfg:
        yield cfg


def _settings(cfg: stack.StackConfig) -> Settings:
    return load_settings({"KAFKA_BOOTSTRAP_SERVERS": cfg.bootstrap, "SCHEMA_REGISTRY_URL": cfg.registry_url})


def _topics() -> dict[str, str]:
    """Every Avro topic of the catalog and a changelog, each with its schema stem."""
    out = {spec.name: spec.schema for spec in CATALOG if spec.fmt == AVRO and spec.schema}
    out[changelog_topic("microexec-state")] = "changelog_state_v1"
    return out


def _body_roundtrips(decoder: AvroDecoder, data: bytes) -> bool:
    """Decoded with the writer schema the registry gives for the record's id, re-encoded with our own
    schema: byte-identical only if the id still names the schema the record was written with."""
    record = decoder.decode(data)
    assert decoder.reader is not None
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, decoder.reader, record)
    return buf.getvalue() == data[5:]


def test_restart_keeps_every_schema_and_old_records_decode(private_stack: stack.StackConfig) -> None:
    cfg = private_stack
    t0 = time.monotonic()
    settings = _settings(cfg)
    topics = _topics()
    create_topics(settings, [(name, 2, stem.startswith("changelog")) for name, stem in topics.items()])
    random.seed(11)  # fastavro's generator draws from the global random module
    writer_registry = Registry(settings.schema_registry_url)
    written: dict[str, list[bytes]] = {}
    for name, stem in topics.items():
        encoder = AvroEncoder(stem, name, writer_registry)
        values = [encoder.encode(r) for r in fastavro.utils.generate_many(encoder.schema, RECORDS_PER_TOPIC)]
        produce_all(settings, name, [(f"k{i}".encode(), v) for i, v in enumerate(values)])
        written[name] = values
    ids = {name: int.from_bytes(values[0][1:5], "big") for name, values in written.items()}
    schema_before = {i: writer_registry.client.get_schema(i).schema_str for i in set(ids.values())}

    print(f"wrote {len(topics)} topics in {time.monotonic() - t0:.1f}s")
    started = time.monotonic()
    assert stack.down(cfg) == ["registry", "kafka"]
    stack.up(cfg, timeout=240)
    restart_s = time.monotonic() - started
    print(f"stack restart (down + up, both answering): {restart_s:.1f}s")

    fresh = Registry(settings.schema_registry_url)  # no cache: every writer schema comes from the registry
    for schema_id, text in schema_before.items():
        assert fresh.client.get_schema(schema_id).schema_str == text, f"schema id {schema_id} changed"
    for name, stem in topics.items():
        messages = read_all(settings, name)
        assert sorted(m.value() for m in messages) == sorted(written[name]), f"{name} lost records"
        decoder = AvroDecoder(stem, fresh)
        assert all(_body_roundtrips(decoder, m.value()) for m in messages), f"{name} decodes wrongly"

    # The symptom of issue 11: `microexec tail` printed every advice record as undecodable base64.
    advice = next(name for name, stem in topics.items() if stem == "execution_advice_v1")
    tailed = list(tail(settings, advice, from_beginning=True, follow=False))
    assert len(tailed) == RECORDS_PER_TOPIC and all("_base64" not in r["value"] for r in tailed)

    # New registrations must not reuse an id that old records carry.
    probe = '{"type": "record", "name": "RestartProbe", "fields": [{"name": "n", "type": "long"}]}'
    new_id = fresh.client.register_schema("restart-probe-value", Schema(probe, "AVRO"))
    assert new_id not in schema_before, f"new schema got id {new_id}, which old records carry"

    # `down` SIGKILLs a registry that has not stopped after 30 s: a schema registered just before must
    # survive that too (H2 otherwise flushes commits up to 500 ms late; a producer may already have
    # written records carrying the new id).
    pid = stack.running_pid(cfg, "registry")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    while stack.pid_alive(pid) and time.monotonic() - started < 10:  # SIGKILL is not instantaneous
        time.sleep(0.05)
    stack.up(cfg, timeout=240)  # the broker still runs: only the registry starts again
    print(f"registry restart after SIGKILL: {time.monotonic() - started:.1f}s")
    after_kill = Registry(settings.schema_registry_url).client.get_schema(new_id).schema_str or ""
    assert "RestartProbe" in after_kill, f"schema id {new_id} lost by a SIGKILL right after registration"
