"""Downloads from Maven Central, each checked against a sha256 pinned in this repository.

Why not ``mvn``: a fresh machine has Java but not necessarily Maven; the broker's dependency set is
pinned in ``kafka-jars.lock`` (resolved once with Maven) and the registry archives in
``registry-archives.lock``, so plain HTTPS gives the same files with no build tool.

Why pinned digests and not the published ``.sha1``: a checksum fetched from the same server as the
file only detects a broken transfer; one committed here also detects a file that changed upstream
(or a mirror set in ``MICROEXEC_MAVEN_REPO`` that serves something else). An artifact with no pin is
refused before any download, so a version bump cannot silently skip verification.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

DEFAULT_REPO = "https://repo1.maven.org/maven2"
LOCK_FILES = (Path(__file__).with_name("kafka-jars.lock"), Path(__file__).with_name("registry-archives.lock"))


class DownloadError(RuntimeError):
    pass


class ChecksumMismatch(DownloadError):
    """The downloaded bytes are not the ones pinned in the lock file (never retried: they would not change)."""


class Pin(NamedTuple):
    """One lock-file line: a Maven coordinate and the sha256 its file must have."""

    group: str
    artifact: str
    version: str
    ext: str
    classifier: str
    sha256: str


def parse_pin(line: str) -> Pin:
    """``group:artifact:version[:ext[:classifier]] sha256=<64 hex>`` -> Pin (ValueError says what is wrong)."""
    coord, _, digest = line.strip().partition(" sha256=")
    parts = coord.split(":")
    if len(parts) not in (3, 4, 5) or not all(parts[:3]):
        raise ValueError(f"lock line {line!r}: want group:artifact:version[:ext[:classifier]] sha256=<hex>")
    digest = digest.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"lock line {line!r}: no sha256=<64 hex digits> pinned")
    group, artifact, version = parts[:3]
    ext = parts[3] if len(parts) > 3 else "jar"
    classifier = parts[4] if len(parts) > 4 else ""
    return Pin(group, artifact, version, ext, classifier, digest)


def read_pins(path: Path) -> list[Pin]:
    return [parse_pin(line) for line in path.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def pinned_sha256(group: str, artifact: str, version: str, ext: str = "jar", classifier: str = "",
                  lock_files: tuple[Path, ...] = LOCK_FILES) -> str:
    """The committed sha256 of one artifact; DownloadError (naming the lock files) when none is pinned."""
    for lock in lock_files:
        for pin in read_pins(lock):
            if (pin.group, pin.artifact, pin.version, pin.ext, pin.classifier) == (
                    group, artifact, version, ext, classifier):
                return pin.sha256
    names = ", ".join(lock.name for lock in lock_files)
    kind = f"{ext}:{classifier}" if classifier else ext
    raise DownloadError(f"no sha256 pinned for {group}:{artifact}:{version} ({kind}) in {names}: "
                        f"add the artifact's sha256 there before using this version")


def verify_sha256(path: Path, expected: str, source: str) -> None:
    """Raise ChecksumMismatch (deleting ``path``) unless the file's sha256 is ``expected``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        path.unlink(missing_ok=True)
        raise ChecksumMismatch(f"checksum mismatch for {source}: sha256 {digest.hexdigest()}, but the lock file "
                               f"pins {expected}; the file was deleted. A mirror or proxy serving other bytes, "
                               f"or an artifact changed upstream: check before updating the pin")


def repo_url() -> str:
    return os.environ.get("MICROEXEC_MAVEN_REPO", DEFAULT_REPO).rstrip("/")


def artifact_path(group: str, artifact: str, version: str, ext: str = "jar", classifier: str = "") -> str:
    suffix = f"-{classifier}" if classifier else ""
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}{suffix}.{ext}"


def _get(url: str, timeout: float = 60.0) -> urllib.request._UrlopenRet:
    request = urllib.request.Request(url, headers={"User-Agent": "microexec-infra"})
    return urllib.request.urlopen(request, timeout=timeout)


def fetch(group: str, artifact: str, version: str, dest: Path, *, ext: str = "jar", classifier: str = "",
          progress: Progress | None = None, attempts: int = 3, sha256: str | None = None) -> Path:
    """Download one artifact into ``dest`` and check it against its pinned sha256 (``sha256`` overrides the
    lock files). A file already in ``dest`` was verified before it was moved there, so it is not fetched again."""
    rel = artifact_path(group, artifact, version, ext, classifier)
    target = dest / rel.rsplit("/", 1)[1]
    if target.exists():
        return target
    expected = sha256 or pinned_sha256(group, artifact, version, ext, classifier)
    dest.mkdir(parents=True, exist_ok=True)
    url = f"{repo_url()}/{rel}"
    last: Exception | None = None
    for attempt in range(attempts):
        partial: Path | None = None
        try:
            with _get(url) as response, tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
                partial = Path(tmp.name)
                total = int(response.headers.get("Content-Length") or 0)
                task = progress.add_task(target.name, total=total or None) if progress else None
                while chunk := response.read(1 << 20):
                    tmp.write(chunk)
                    if progress is not None and task is not None:
                        progress.advance(task, len(chunk))
            verify_sha256(Path(tmp.name), expected, url)
            shutil.move(tmp.name, target)
            return target
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if partial is not None:
                partial.unlink(missing_ok=True)
            last = exc
            time.sleep(1.0 + attempt)
    raise DownloadError(f"download failed after {attempts} attempts: {url}: {last}")


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    transient=False)


def read_lock(path: Path) -> list[tuple[str, str, str]]:
    """(group, artifact, version) of every pinned artifact, in lock-file order."""
    return [(pin.group, pin.artifact, pin.version) for pin in read_pins(path)]
