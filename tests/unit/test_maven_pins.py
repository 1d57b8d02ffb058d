"""Maven downloads are checked against the sha256 pinned in the repository's lock files.

A local HTTP server stands in for Maven Central (MICROEXEC_MAVEN_REPO), so these tests exercise the
real download path: a file with the pinned digest lands in place, one with other bytes is refused
with both digests named and is not left behind, and an artifact with no pin is refused before any
request is made.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.infra import maven, registry

PAYLOAD = b"not really a jar, but bytes with a known digest\n"
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def fake_central(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Serve ``tmp_path/repo`` over HTTP as the Maven repository; yields the request paths it saw."""
    root = tmp_path / "repo"
    rel = maven.artifact_path("org.example", "thing", "1.0")
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_bytes(PAYLOAD)
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MICROEXEC_MAVEN_REPO", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_file_with_the_pinned_digest_is_kept(tmp_path: Path, fake_central: list[str]) -> None:
    dest = tmp_path / "libs"
    got = maven.fetch("org.example", "thing", "1.0", dest, sha256=PAYLOAD_SHA256, attempts=1)
    assert got == dest / "thing-1.0.jar" and got.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.iterdir()) == ["thing-1.0.jar"]  # no temporary file left over


def test_other_bytes_are_refused_named_and_deleted_without_retrying(tmp_path: Path, fake_central: list[str]) -> None:
    dest = tmp_path / "libs"
    wrong = "0" * 64
    with pytest.raises(maven.ChecksumMismatch) as excinfo:
        maven.fetch("org.example", "thing", "1.0", dest, sha256=wrong, attempts=3)
    message = str(excinfo.value)
    assert PAYLOAD_SHA256 in message and wrong in message and "org/example/thing/1.0/thing-1.0.jar" in message
    assert list(dest.iterdir()) == []  # neither the target nor the temporary download remains
    assert len(fake_central) == 1  # the same server would serve the same bytes: no retry


def test_an_unpinned_artifact_is_refused_before_any_request(tmp_path: Path, fake_central: list[str]) -> None:
    with pytest.raises(maven.DownloadError, match=r"no sha256 pinned for org\.example:thing:1\.0.*kafka-jars\.lock"):
        maven.fetch("org.example", "thing", "1.0", tmp_path / "libs", attempts=1)
    assert fake_central == []


def test_verify_sha256_accepts_the_digest_in_either_case(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    maven.verify_sha256(path, PAYLOAD_SHA256.upper(), "here")
    assert path.exists()
    with pytest.raises(maven.ChecksumMismatch):
        maven.verify_sha256(path, PAYLOAD_SHA256[:-1] + ("0" if PAYLOAD_SHA256[-1] != "0" else "1"), "here")
    assert not path.exists()


@pytest.mark.parametrize("line", [
    "org.example:thing:1.0",  # no digest
    "org.example:thing:1.0 sha256=abc",  # too short
    "org.example:thing:1.0 sha256=" + "g" * 64,  # not hex
    "org.example:thing sha256=" + "a" * 64,  # no version
])
def test_malformed_lock_lines_are_rejected(line: str) -> None:
    with pytest.raises(ValueError, match="lock line"):
        maven.parse_pin(line)


def test_every_artifact_the_stack_downloads_is_pinned() -> None:
    pins = [pin for lock in maven.LOCK_FILES for pin in maven.read_pins(lock)]
    assert len({(p.group, p.artifact, p.version, p.ext, p.classifier) for p in pins}) == len(pins)
    assert any(p.artifact == "kafka_2.13" and p.version == "4.3.1" for p in pins)
    for version in (registry.REGISTRY_VERSION_JAVA21, registry.REGISTRY_VERSION_JAVA17):
        assert maven.pinned_sha256("io.apicurio", "apicurio-registry-app", version, "tar.gz", "all")


def test_compose_pins_kafka_43_and_a_karapace_release() -> None:
    """The Docker path runs the broker release the jar lock pins, and no image floats on ``latest``."""
    from streams.infra import stack

    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", compose, flags=re.MULTILINE)
    assert f"apache/kafka:{stack.KAFKA_VERSION}" in images and stack.KAFKA_VERSION.startswith("4.3.")
    karapace = [image for image in images if image.startswith("ghcr.io/aiven-open/karapace:")]
    assert len(karapace) == 1 and re.fullmatch(r"ghcr\.io/aiven-open/karapace:\d+\.\d+\.\d+", karapace[0])
    assert all(":" in image and not image.endswith((":latest", ":develop")) for image in images)
