"""Downloads from Maven Central with checksum verification.

Why not ``mvn``: a fresh machine has Java but not necessarily Maven; the broker's dependency set is
pinned in ``kafka-jars.lock`` (resolved once with Maven), so plain HTTPS plus the published
``.sha1`` of each file gives the same jars with no build tool.
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

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

DEFAULT_REPO = "https://repo1.maven.org/maven2"


class DownloadError(RuntimeError):
    pass


def repo_url() -> str:
    return os.environ.get("MICROEXEC_MAVEN_REPO", DEFAULT_REPO).rstrip("/")


def artifact_path(group: str, artifact: str, version: str, ext: str = "jar", classifier: str = "") -> str:
    suffix = f"-{classifier}" if classifier else ""
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}{suffix}.{ext}"


def _get(url: str, timeout: float = 60.0) -> urllib.request._UrlopenRet:
    request = urllib.request.Request(url, headers={"User-Agent": "microexec-infra"})
    return urllib.request.urlopen(request, timeout=timeout)


def _fetch_text(url: str) -> str:
    with _get(url) as response:
        return str(response.read().decode("ascii").split()[0]).strip()


def fetch(group: str, artifact: str, version: str, dest: Path, *, ext: str = "jar", classifier: str = "",
          progress: Progress | None = None, attempts: int = 3) -> Path:
    """Download one artifact into ``dest`` (skipped when already there and verified)."""
    rel = artifact_path(group, artifact, version, ext, classifier)
    target = dest / rel.rsplit("/", 1)[1]
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    url = f"{repo_url()}/{rel}"
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            expected = _fetch_text(url + ".sha1")
            digest = hashlib.sha1(usedforsecurity=False)
            with _get(url) as response, tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
                total = int(response.headers.get("Content-Length") or 0)
                task = progress.add_task(target.name, total=total or None) if progress else None
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    tmp.write(chunk)
                    if progress is not None and task is not None:
                        progress.advance(task, len(chunk))
            if digest.hexdigest() != expected:
                os.unlink(tmp.name)
                raise DownloadError(f"checksum mismatch for {url}: got {digest.hexdigest()}, want {expected}")
            shutil.move(tmp.name, target)
            return target
        except (urllib.error.URLError, TimeoutError, ConnectionError, DownloadError) as exc:
            last = exc
            time.sleep(1.0 + attempt)
    raise DownloadError(f"download failed after {attempts} attempts: {url}: {last}")


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    transient=False)


def read_lock(path: Path) -> list[tuple[str, str, str]]:
    coords = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            group, artifact, version = line.split(":")
            coords.append((group, artifact, version))
    return coords
