"""The local registry's schemas live on disk, tied to the broker's cluster (streams/infra/registry.py)."""

from __future__ import annotations

from pathlib import Path

from streams.infra import registry as apicurio


def test_registry_database_belongs_to_the_broker_cluster(tmp_path: Path) -> None:
    """A broker formatted afresh (``--fresh`` or data deleted by hand) gets an empty registry: schemas
    of another cluster are removed, never paired with records they did not encode."""
    data = tmp_path / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("node.id=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\n")
    first = apicurio.prepare_database(tmp_path, data)
    first.with_suffix(".mv.db").write_bytes(b"schemas of cluster A")
    assert apicurio.prepare_database(tmp_path, data) == first and first.with_suffix(".mv.db").exists()
    (data / "meta.properties").write_text("node.id=1\ncluster.id=BBBBBBBBBBBBBBBBBBBBBB\n")
    second = apicurio.prepare_database(tmp_path, data)
    assert second != first and not first.parent.exists()
    assert "jdbc:h2:file:" in apicurio.datasource_url(second)
